// Device and driver types written with the SDK inside the test target and registered in-process (the way a
// plugin author tests their own types with the kit). Each exercises SDK services no example plugin uses.
// This file imports only the SDK; the tests (other files) drive these types through the real PDM.
import PluginSDK
import Synchronization

/// Live SDK test plugin objects (init increments, deinit decrements): destruct must release every one.
let liveTestPlugins = Atomic<Int>(0)

/// The in-process module entry: every SDK test type.
let sdkTestEntry: VMHPluginEntry = { registrar, version in
    PluginExports.register(registrar, version,
                           devices: [TimerDevice.self, MemoryDevice.self, EchoDevice.self, ConfigDevice.self,
                                     PeriodicDevice.self],
                           drivers: [EchoDriver.self])
}

/// `SDKTimer`: ports 0x700..0x703. Write offset 0 arms the timer with the value in ns, offset 1 stops it; reading
/// offset 0 gives how often it fired. When it fires the device raises IRQ 9.
final class TimerDevice: DevicePlugin {
    static let name = "SDKTimer"
    private let context: DeviceContext
    private var timer: DeviceTimer?
    private var fired: UInt32 = 0

    init(context: DeviceContext) throws {
        self.context = context
        liveTestPlugins.add(1, ordering: .relaxed)
        timer = try context.createTimer(description: "test timer") { [unowned self] in
            fired += 1
            context.setIRQ(9, high: true)
        }
        try context.registerPorts(base: 0x700, count: 4, description: "timer ports", read: { [unowned self] offset, _ in
            offset == 0 ? fired : 0xffff_ffff
        }, write: write)
    }

    deinit { liveTestPlugins.add(-1, ordering: .relaxed) }

    private func write(offset: UInt16, size: Int, value: UInt32) {
        switch offset {
        case 0: try? timer?.arm(nanoseconds: UInt64(value))
        case 1: try? timer?.stop()
        default: break
        }
    }
}

/// `SDKPeriodic`: a periodic tick on the device clock. Ports 0x720..0x72b: writing a period (ns) to offset 0 starts
/// ticking (first tick one period after the device clock's value then); each tick re-arms at its own deadline plus
/// the period. Offset 0 reads the number of ticks, offset 4 the device time of the last tick less the start,
/// offset 8 the status of the last helper call (0 or the negative VMH status).
final class PeriodicDevice: DevicePlugin {
    static let name = "SDKPeriodic"
    private let context: DeviceContext
    private var timer: DeviceTimer?
    private var period: UInt64 = 0
    private var start: UInt64 = 0
    private var deadline: UInt64 = 0
    private var ticks: UInt32 = 0
    private var lastTick: UInt64 = 0
    private var status: Int32 = 0

    init(context: DeviceContext) throws {
        self.context = context
        timer = try context.createTimer(description: "tick") { [unowned self] in tick() }
        try context.registerPorts(base: 0x720, count: 12, description: "periodic", read: { [unowned self] offset, _ in
            switch offset {
            case 0: ticks
            case 4: UInt32(truncatingIfNeeded: lastTick &- start)
            case 8: UInt32(bitPattern: status)
            default: 0xffff_ffff
            }
        }, write: { [unowned self] offset, _, value in
            guard offset == 0 else { return }
            run { () throws(PluginError) in
                period = UInt64(value)
                start = try context.deviceClockNanoseconds()
                deadline = start + period
                try timer?.arm(atDeviceClock: deadline)
            }
        })
    }

    private func tick() {
        run { () throws(PluginError) in
            lastTick = try context.deviceClockNanoseconds()
            ticks += 1
            deadline += period
            try timer?.arm(atDeviceClock: deadline)
        }
    }

    private func run(_ body: () throws(PluginError) -> Void) {
        do throws(PluginError) {
            try body()
            status = 0
        } catch {
            status = error.status.rawValue
        }
    }
}

/// `SDKMemory`: guest memory and MMIO value conversion.
/// Ports 0x710: offset 0 (4 bytes) sets a guest address; a write to offset 4 copies the 4 bytes at that address
/// to address + 0x100, each plus 1; offset 8 reads the status of the last copy (0 or the negative VMH status).
/// MMIO 0xfe00_0000, 0x1000 bytes: a 16-byte little-endian byte store (writes/reads of any size 1..8).
final class MemoryDevice: DevicePlugin {
    static let name = "SDKMemory"
    private let context: DeviceContext
    private var address: UInt64 = 0
    private var lastStatus: Int32 = 0
    private var bytes = [UInt8](repeating: 0, count: 16)

    init(context: DeviceContext) throws {
        self.context = context
        liveTestPlugins.add(1, ordering: .relaxed)
        try context.registerPorts(base: 0x710, count: 12, description: "memory ports", read: { [unowned self] offset, _ in
            offset == 8 ? UInt32(bitPattern: lastStatus) : 0
        }, write: portWrite)
        try context.registerMMIO(base: 0xfe00_0000, size: 0x1000, description: "byte store",
                                 read: mmioRead, write: mmioWrite)
    }

    deinit { liveTestPlugins.add(-1, ordering: .relaxed) }

    private func portWrite(offset: UInt16, size: Int, value: UInt32) {
        switch offset {
        case 0: address = UInt64(value)
        case 4: copy()
        default: break
        }
    }

    private func copy() {
        var buffer: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        do {
            try withUnsafeMutableBytes(of: &buffer) { raw throws(PluginError) in
                try context.physRead(address, into: raw)
                for index in raw.indices { raw[index] &+= 1 }
                try context.physWrite(address + 0x100, from: UnsafeRawBufferPointer(raw))
            }
            lastStatus = 0
        } catch {
            lastStatus = error.status.rawValue
        }
    }

    private func mmioRead(offset: UInt64, size: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<size where Int(offset) + index < bytes.count {
            value |= UInt64(bytes[Int(offset) + index]) << (UInt64(index) * 8)
        }
        return value
    }

    private func mmioWrite(offset: UInt64, size: Int, value: UInt64) {
        for index in 0..<size where Int(offset) + index < bytes.count {
            bytes[Int(offset) + index] = UInt8(truncatingIfNeeded: value >> (UInt64(index) * 8))
        }
    }
}

/// `SDKEcho` device: offers a char port to LUN 0 and writes guest bytes to the LUN's char connector.
/// Ports 0x720: write offset 0 sends a byte down; read offset 0 pops a byte that came back up (0xff when none);
/// read offset 1 gives how many bytes came back in total.
final class EchoDevice: DevicePlugin {
    static let name = "SDKEcho"
    private var received: [UInt8] = []
    private var receivedTotal: UInt32 = 0
    private var output: CharConnector?

    init(context: DeviceContext) throws {
        liveTestPlugins.add(1, ordering: .relaxed)
        // Offered before the driver is attached: the driver queries it from its own construct.
        context.offerCharPort(lun: 0) { [unowned self] bytes in
            received.append(contentsOf: bytes)
            receivedTotal += UInt32(bytes.count)
            return Int64(bytes.count)
        }
        if try context.attachDriver(lun: 0) {
            output = context.lunInterface(CharConnector.self, lun: 0)
        }
        try context.registerPorts(base: 0x720, count: 2, description: "echo ports", read: { [unowned self] offset, _ in
            switch offset {
            case 0: received.isEmpty ? 0xff : UInt32(received.removeFirst())
            default: receivedTotal
            }
        }, write: { [unowned self] offset, _, value in
            if offset == 0 { _ = output?.write(byte: UInt8(truncatingIfNeeded: value)) }
        })
    }

    deinit { liveTestPlugins.add(-1, ordering: .relaxed) }
}

/// `SDKEcho` driver: offers a char connector whose writes come straight back up through the char port of the
/// device (or driver) above, queried in construct; `upper-case: true` echoes ASCII letters upper-cased.
final class EchoDriver: DriverPlugin {
    static let name = "SDKEcho"
    private let upstream: CharPort?

    init(context: DriverContext, flags: UInt32) throws {
        liveTestPlugins.add(1, ordering: .relaxed)
        try context.config.validate(keys: ["upper-case"])
        let upperCase = try context.config.bool("upper-case", default: false)
        upstream = context.queryAbove(CharPort.self)
        if upstream == nil { throw PluginError(.notFound, "the device above offers no \(InterfaceID.charPort)") }
        context.offerCharConnector { [unowned self] bytes in
            guard let upstream else { return Int64(VMH_ERR_WRONG_STATE) }
            guard upperCase else { return upstream.receive(bytes) }
            let shouted = bytes.map { $0 >= 0x61 && $0 <= 0x7a ? $0 - 0x20 : $0 }
            return shouted.withUnsafeBytes { upstream.receive($0) }
        }
    }

    deinit { liveTestPlugins.add(-1, ordering: .relaxed) }
}

/// `SDKConfig`: reads typed settings and shows them on ports 0x730..0x733: +0 `number` (required integer, low 32
/// bits), +1 `small` (UInt8, default 7, at most 200), +2 `flag` (bool, default false), +3 the length of `text`
/// (string, default "").
final class ConfigDevice: DevicePlugin {
    static let name = "SDKConfig"

    init(context: DeviceContext) throws {
        liveTestPlugins.add(1, ordering: .relaxed)
        try context.config.validate(keys: ["number", "small", "flag", "text"])
        let number = try context.config.integer("number")
        let small = try context.config.integer("small", as: UInt8.self, default: 7, in: 0...200)
        let flag = try context.config.bool("flag", default: false)
        let text = try context.config.string("text", default: "")
        let values: [UInt32] = [UInt32(truncatingIfNeeded: number), UInt32(small), flag ? 1 : 0,
                                UInt32(text.utf8.count)]
        try context.registerPorts(base: 0x730, count: 4, description: "config ports",
                                  read: { offset, _ in values[Int(offset)] }, write: nil)
    }

    deinit { liveTestPlugins.add(-1, ordering: .relaxed) }
}

/// A device with an invalid registration name.
final class BadNameDevice: DevicePlugin {
    static let name = "9-starts-with-a-digit"
    init(context: DeviceContext) throws {}
}

/// Two device types claiming one name.
final class DuplicateA: DevicePlugin {
    static let name = "SDKDuplicate"
    init(context: DeviceContext) throws {}
}

/// See ``DuplicateA``.
final class DuplicateB: DevicePlugin {
    static let name = "SDKDuplicate"
    init(context: DeviceContext) throws {}
}

/// Registers `devices` with a registrar that accepts everything; the SDK's result.
func registerWithAcceptingRegistrar(_ devices: [any DevicePlugin.Type]) -> Result<Void, PluginError> {
    var registrar = VMHRegistrar()
    registrar.version = ABIVersion.registrar
    registrar.abiVersion = ABIVersion.abi
    registrar.versionEnd = registrar.version
    registrar.registerDevice = { _, _ in VMH_OK }
    registrar.registerDriver = { _, _ in VMH_OK }
    return withUnsafePointer(to: &registrar) {
        PluginExports.registerTypes($0, ABIVersion.abi, devices: devices)
    }
}
