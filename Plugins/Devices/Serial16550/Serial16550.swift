// Serial16550: a minimal 16550 UART (see DEVICE-SPECS.md). Settings `iobase` (0x3f8), `irq` (4).
// LUN 0 takes a driver offering VMH_IID_CHAR_CONNECTOR: a THR write (offset 0, DLAB=0) writes that byte to it.
// LSR (offset 5) reads 0x60 (THR and transmitter empty); LCR/MCR/SCR/IER store and read back; DLL/DLM store with
// DLAB set; every other register reads 0. With no driver on LUN 0 output is dropped (logged once).
import PluginSDK

/// The Serial16550 device.
final class Serial16550: DevicePlugin {
    static let name = "Serial16550"
    static let description = "Minimal 16550 UART; output to the char driver on LUN 0"
    static let order = DeviceOrder.serial
    static let maxInstances: UInt32 = 4

    /// Register offsets from `iobase`.
    enum Register {
        static let data: UInt16 = 0        // THR/RBR, DLL with DLAB
        static let interruptEnable: UInt16 = 1  // IER, DLM with DLAB
        static let lineControl: UInt16 = 3
        static let modemControl: UInt16 = 4
        static let lineStatus: UInt16 = 5
        static let scratch: UInt16 = 7
    }
    /// LCR bit 7: divisor latch access.
    static let dlab: UInt8 = 0x80
    /// LSR: THR empty (bit 5) and transmitter empty (bit 6).
    static let lineStatusIdle: UInt32 = 0x60

    private let context: DeviceContext
    /// The interrupt line (kept for the full UART; the minimal one raises none).
    let irq: UInt32
    private let output: CharConnector?
    private var droppedLogged = false
    private var ier: UInt8 = 0
    private var lcr: UInt8 = 0
    private var mcr: UInt8 = 0
    private var scr: UInt8 = 0
    private var dll: UInt8 = 0
    private var dlm: UInt8 = 0

    init(context: DeviceContext) throws {
        self.context = context
        try context.config.validate(keys: ["iobase", "irq"])
        let base = try context.config.integer("iobase", as: UInt16.self, default: 0x3f8, in: 0...0xfff8)
        irq = try context.config.integer("irq", as: UInt32.self, default: 4, in: 0...23)
        if try context.attachDriver(lun: 0) {
            output = context.lunInterface(CharConnector.self, lun: 0)
            if output == nil {
                context.log(.warning, "the driver on LUN 0 offers no \(InterfaceID.charConnector); output is dropped")
            }
        } else {
            output = nil
        }
        try context.registerPorts(base: base, count: 8, description: "16550 UART", read: read, write: write)
    }

    private var divisorLatch: Bool { lcr & Self.dlab != 0 }

    private func read(offset: UInt16, size: Int) -> UInt32 {
        switch offset {
        case Register.data: divisorLatch ? UInt32(dll) : 0
        case Register.interruptEnable: UInt32(divisorLatch ? dlm : ier)
        case Register.lineControl: UInt32(lcr)
        case Register.modemControl: UInt32(mcr)
        case Register.lineStatus: Self.lineStatusIdle
        case Register.scratch: UInt32(scr)
        default: 0
        }
    }

    private func write(offset: UInt16, size: Int, value: UInt32) {
        let byte = UInt8(truncatingIfNeeded: value)
        switch offset {
        case Register.data:
            if divisorLatch { dll = byte } else { transmit(byte) }
        case Register.interruptEnable:
            if divisorLatch { dlm = byte } else { ier = byte }
        case Register.lineControl: lcr = byte
        case Register.modemControl: mcr = byte
        case Register.scratch: scr = byte
        default: break
        }
    }

    private func transmit(_ byte: UInt8) {
        guard let output else {
            if !droppedLogged {
                droppedLogged = true
                context.log(.notice, "no char driver on LUN 0: serial output is dropped")
            }
            return
        }
        _ = output.write(byte: byte)
    }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, devices: [Serial16550.self])
}
