// Serial16550: a 16550A UART (register model in UARTModel.swift). Settings `iobase` (default 0x3f8) and `irq`
// (default 4). LUN 0 takes a char driver chain: output goes down through its VMH_IID_CHAR_CONNECTOR, input comes
// up through the VMH_IID_CHAR_PORT this device offers to it. A THR write reaches the driver at once; LSR reads
// 0x60 when idle (the DEVICE-SPECS contract). With no driver on LUN 0 output is dropped (logged once).
//
// Locking: input arrives on the driver's I/O thread, outside the host's per-instance lock, so the device is
// THREAD_SAFE and guards its model with its own mutex (uncontended on the I/O path; nothing is allocated there).
import PluginSDK
import Synchronization

/// The Serial16550 device.
final class Serial16550: DevicePlugin, @unchecked Sendable {
    static let name = "Serial16550"
    static let description = "16550A UART (FIFOs, interrupts, loopback); char driver chain on LUN 0"
    static let order = DeviceOrder.serial
    static let flags: DeviceFlags = [.threadSafe]
    static let maxInstances: UInt32 = 4

    private struct State {
        var model = UARTModel()
        /// The level last driven on the IRQ line.
        var irqHigh = false
        var droppedLogged = false
    }

    private let context: DeviceContext
    /// The ISA interrupt line.
    let irq: UInt32
    /// Set once in init; read under the state lock.
    private var output: CharConnector?
    private let state = Mutex(State())
    private var input: OfferedCharPort?

    init(context: DeviceContext) throws {
        self.context = context
        try context.config.validate(keys: ["iobase", "irq"])
        let base = try context.config.integer("iobase", as: UInt16.self, default: 0x3f8, in: 0...0xfff8)
        irq = try context.config.integer("irq", as: UInt32.self, default: 4, in: 0...23)
        // Offer the input port before attaching, so the chain can find it from its construct.
        input = context.offerCharPort(receive: { [unowned self] bytes in self.receive(bytes) })
        if try context.attachDriver(lun: 0) {
            output = context.lunInterface(CharConnector.self, lun: 0)
            if output == nil {
                context.log(.warning, "the driver on LUN 0 offers no \(InterfaceID.charConnector); output is dropped")
            }
        }
        try context.registerPorts(base: base, count: UARTRegister.count, description: "16550 UART",
                                  read: { [unowned self] offset, _ in self.read(offset) },
                                  write: { [unowned self] offset, _, value in self.write(offset, value) })
    }

    func queryInterface(lun: UInt32, iid: InterfaceID) -> UnsafeMutableRawPointer? {
        lun == 0 ? input?.answer(iid) : nil
    }

    func reset() -> PowerResult {
        state.withLock { state in
            state.model.reset()
            updateIRQ(&state)
        }
        return .done
    }

    // MARK: Guest access (EMT)

    private func read(_ offset: UInt16) -> UInt32 {
        state.withLock { state in
            if offset == UARTRegister.lineStatus || offset == UARTRegister.interruptIdentification {
                drain(&state)  // retry output the driver refused earlier (flow control)
            }
            let value = state.model.read(offset)
            updateIRQ(&state)
            return UInt32(value)
        }
    }

    private func write(_ offset: UInt16, _ value: UInt32) {
        state.withLock { state in
            state.model.write(offset, UInt8(truncatingIfNeeded: value))
            if offset == UARTRegister.data { drain(&state) }
            updateIRQ(&state)
        }
    }

    // MARK: Host side

    /// Input from the driver below LUN 0 (its I/O thread): as much as the receive FIFO takes.
    private func receive(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        state.withLock { state in
            let taken = state.model.receive(bytes)
            updateIRQ(&state)
            return Int64(taken)
        }
    }

    /// Hands the transmit FIFO to the driver; keeps what it refuses (LSR.THRE stays clear until it drains).
    private func drain(_ state: inout State) {
        guard !state.model.transmitFIFO.isEmpty else { return }
        guard let output else {
            if !state.droppedLogged {
                state.droppedLogged = true
                context.log(.notice, "no char driver on LUN 0: serial output is dropped")
            }
            state.model.transmitted(state.model.transmitFIFO.count)
            return
        }
        withUnsafeTemporaryAllocation(byteCount: ByteFIFO.capacity, alignment: 1) { buffer in
            let n = state.model.transmitFIFO.copyPrefix(into: buffer, maximum: ByteFIFO.capacity)
            let accepted = output.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            if accepted > 0 {
                state.model.transmitted(Int(accepted))
            } else if accepted < 0 {
                // The driver failed: drop the bytes rather than stall the guest forever.
                state.model.transmitted(n)
            }
        }
    }

    /// Drives the IRQ line when the model's interrupt state changed.
    private func updateIRQ(_ state: inout State) {
        let high = state.model.interruptAsserted
        guard high != state.irqHigh else { return }
        state.irqHigh = high
        context.setIRQ(irq, high: high)
    }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, devices: [Serial16550.self])
}
