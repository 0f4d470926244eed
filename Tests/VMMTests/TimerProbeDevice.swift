import CVMHostABI
import Dispatch
import Glibc
import PDM
import Synchronization

/// A device ("TestTimerProbe") registered in-process for the timer tests. Construct creates timers A and B and
/// claims ports 0x600–0x604: a write of v to 0x600 / 0x601 arms A / B to fire in v microseconds, any write to
/// 0x602 / 0x603 stops A / B, a write to 0x604 arms A for 1 µs and then stays 100 ms in the handler. Each firing
/// is recorded, and counted as an overlap if it ran while a port handler was running.
enum TimerProbeDevice {
    static let name = "TestTimerProbe"
    static let handles = Mutex<(a: UInt64, b: UInt64)>((0, 0))
    static let firings = Mutex<[UInt64]>([])
    static let fired = DispatchSemaphore(value: 0)
    /// Set while a port handler runs (which the host calls under the instance lock); a timer callback must never
    /// see it set, as the lock serialises the two.
    static let inHandler = Atomic<Bool>(false)
    static let overlaps = Atomic<Int>(0)

    static func reset() {
        firings.withLock { $0.removeAll() }
        while fired.wait(timeout: .now()) == .success {}
        overlaps.store(0, ordering: .relaxed)
    }

    static func register(in registry: PluginRegistry) throws {
        try registry.registerStatic(moduleName: "test-timer-probe", entry: timerProbeEntry)
    }

    fileprivate nonisolated(unsafe) static let registration: UnsafeMutablePointer<VMHDeviceReg> = {
        let reg = UnsafeMutablePointer<VMHDeviceReg>.allocate(capacity: 1)
        reg.initialize(to: VMHDeviceReg())
        reg.pointee.version = version(0xa010)
        reg.pointee.hlpVersion = version(0xa012)
        withUnsafeMutableBytes(of: &reg.pointee.name) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            for (i, c) in name.utf8.enumerated() { raw[i] = c }
        }
        reg.pointee.order = 500
        reg.pointee.maxInstances = 1
        reg.pointee.construct = { ins in
            guard let ins, let hlp = ins.pointee.hlp, let create = hlp.pointee.timerCreate,
                  let ioRegister = hlp.pointee.ioPortRegister else { return VMH_ERR_GENERAL }
            var a: UInt64 = 0
            var b: UInt64 = 0
            guard create(ins, timerFired, nil, "A", &a) == VMH_OK, create(ins, timerFired, nil, "B", &b) == VMH_OK
            else { return VMH_ERR_GENERAL }
            TimerProbeDevice.handles.withLock { $0 = (a, b) }
            return ioRegister(ins, 0x600, 5, nil, nil, portWrite, "timer-probe")
        }
        reg.pointee.versionEnd = version(0xa010)
        return reg
    }()

    private static func version(_ magic: UInt32) -> UInt32 { magic << 16 | 1 << 8 }
}

private let timerFired: VMHTimerCallback = { _, _, timer in
    if TimerProbeDevice.inHandler.load(ordering: .sequentiallyConsistent) {
        TimerProbeDevice.overlaps.add(1, ordering: .relaxed)
    }
    TimerProbeDevice.firings.withLock { $0.append(timer) }
    TimerProbeDevice.fired.signal()
}

private let portWrite: VMHIoPortOut = { ins, _, port, _, value in
    guard let ins, let hlp = ins.pointee.hlp, let arm = hlp.pointee.timerArm, let stop = hlp.pointee.timerStop
    else { return VMH_ERR_GENERAL }
    TimerProbeDevice.inHandler.store(true, ordering: .sequentiallyConsistent)
    defer { TimerProbeDevice.inHandler.store(false, ordering: .sequentiallyConsistent) }
    let (a, b) = TimerProbeDevice.handles.withLock { $0 }
    switch port {
    case 0x600: return arm(ins, a, UInt64(value) * 1000)
    case 0x601: return arm(ins, b, UInt64(value) * 1000)
    case 0x602: return stop(ins, a)
    case 0x603: return stop(ins, b)
    case 0x604:
        let status = arm(ins, a, 1_000)
        usleep(100_000)  // the timer is due now, but the instance lock held around this handler keeps it waiting
        return status
    default: return VMH_OK
    }
}

private let timerProbeEntry: VMHPluginEntry = { registrar, _ in
    guard let registrar, let register = registrar.pointee.registerDevice else { return VMH_ERR_GENERAL }
    return register(registrar, TimerProbeDevice.registration)
}
