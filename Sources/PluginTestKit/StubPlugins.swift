import CVMHostABI
import Glibc
import PDM
import Synchronization

/// In-process stub plugins for tests, registered with `PluginRegistry.registerStatic` (no `.so` needed): a device
/// `Stub`, a device `StubFirst` (FIRST_SUSPEND | FIRST_POWEROFF | FIRST_RESET) and a driver `StubDriver`. They behave
/// like the Probe plugins of DEVICE-SPECS.md and take the same settings:
///
/// - `luns` (int, devices only): attach LUNs 0..luns-1 in construct (a LUN with no configured chain is fine);
/// - `async-ms` (int): suspend / powerOff / reset go async and a worker thread completes after that many ms;
/// - `async-on` (string, default `suspend|powerOff|reset`): which of those go async;
/// - `never-complete` (bool): the async operations never complete;
/// - `fail-on` (string): a callback (`construct`, `initComplete`, `powerOn`, `resume`) that returns VMH_ERR_GENERAL;
/// - `quiet` (bool): log nothing (for benchmarks).
///
/// Every callback logs its own name (`construct`, `suspend`, …) at INFO, and `<callback>-done` when an async
/// operation completes. Drivers attach the driver configured below them.
public enum StubPlugins {
    /// Module name used for the static registration.
    public static let moduleName = "vmhost-test-stubs"

    /// Registers `Stub`, `StubFirst` and `StubDriver` in `registry`.
    public static func register(in registry: PluginRegistry) throws {
        _ = try registry.registerStatic(moduleName: moduleName, entry: stubEntry)
    }
}

// MARK: - Per-instance state

/// What a stub instance read from its settings plus its async progress. Lives behind the instance data pointer.
final class StubState: @unchecked Sendable {
    var asyncMs: Int64 = 0
    var asyncOn: Set<String> = ["suspend", "powerOff", "reset"]
    var neverComplete = false
    var failOn = ""
    var quiet = false
    var pendingOperation = ""
    let completed = Atomic<Bool>(false)
}

private func stubState(_ data: UnsafeMutableRawPointer?) -> StubState? {
    guard let slot = data?.assumingMemoryBound(to: UnsafeMutableRawPointer?.self).pointee else { return nil }
    return Unmanaged<StubState>.fromOpaque(slot).takeUnretainedValue()
}

private func storeState(_ state: StubState, in data: UnsafeMutableRawPointer?) {
    data?.assumingMemoryBound(to: UnsafeMutableRawPointer?.self).pointee = Unmanaged.passRetained(state).toOpaque()
}

private func releaseState(_ data: UnsafeMutableRawPointer?) {
    guard let slotPointer = data?.assumingMemoryBound(to: UnsafeMutableRawPointer?.self),
          let slot = slotPointer.pointee else { return }
    Unmanaged<StubState>.fromOpaque(slot).release()
    slotPointer.pointee = nil
}

/// Settings reader over either helper table.
private struct StubSettingsReader {
    let string: (String) -> String?
    let integer: (String) -> Int64?
    let bool: (String) -> Bool?

    func fill(_ state: StubState) {
        state.asyncMs = integer("async-ms") ?? 0
        if let on = string("async-on") { state.asyncOn = Set(on.split(separator: "|").map(String.init)) }
        state.neverComplete = bool("never-complete") ?? false
        state.failOn = string("fail-on") ?? ""
        state.quiet = bool("quiet") ?? false
    }
}

// MARK: - Async worker

/// Completes an async operation on a plugin thread after `ms` milliseconds.
private final class StubWorker: @unchecked Sendable {
    let state: StubState
    let ms: Int64
    let complete: () -> Void

    init(state: StubState, ms: Int64, complete: @escaping () -> Void) {
        self.state = state
        self.ms = ms
        self.complete = complete
    }

    func start() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let worker = Unmanaged<StubWorker>.fromOpaque(raw).takeRetainedValue()
            var ts = timespec(tv_sec: Int(worker.ms / 1000), tv_nsec: Int((worker.ms % 1000) * 1_000_000))
            nanosleep(&ts, nil)
            worker.state.completed.store(true, ordering: .releasing)
            worker.complete()
            return nil
        }, context)
        if rc == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<StubWorker>.fromOpaque(context).release()
        }
    }
}

// MARK: - Device

private func devLog(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ message: String) {
    guard let ins, let state = stubState(ins.pointee.data), !state.quiet else { return }
    message.withCString { ins.pointee.hlp.pointee.log(ins, VMH_LOG_INFO, $0) }
}

private func devSettings(_ ins: UnsafeMutablePointer<VMHDevIns>) -> StubSettingsReader {
    let hlp = ins.pointee.hlp.pointee
    return StubSettingsReader(
        string: { key in
            var buf = [CChar](repeating: 0, count: 256)
            return hlp.cfgQueryString(ins, key, &buf, buf.count) == VMH_OK ? cArrayString(buf) : nil
        },
        integer: { key in
            var v: Int64 = 0
            return hlp.cfgQueryInteger(ins, key, &v) == VMH_OK ? v : nil
        },
        bool: { key in
            var v = false
            return hlp.cfgQueryBool(ins, key, &v) == VMH_OK ? v : nil
        })
}

private let stubDevConstruct: @convention(c) (UnsafeMutablePointer<VMHDevIns>?) -> Int32 = { ins in
    guard let ins else { return VMH_ERR_INVALID_PARAMETER }
    let state = StubState()
    storeState(state, in: ins.pointee.data)
    let hlp = ins.pointee.hlp.pointee
    let reader = devSettings(ins)
    reader.fill(state)
    devLog(ins, "construct")
    guard hlp.cfgValidate(ins, "luns|async-ms|async-on|never-complete|fail-on|quiet") == VMH_OK else {
        return VMH_ERR_UNKNOWN_CONFIG_KEY
    }
    if state.failOn == "construct" { return VMH_ERR_GENERAL }
    let luns = reader.integer("luns") ?? 0
    for lun in 0..<max(0, luns) {
        let rc = hlp.driverAttach(ins, UInt32(lun))
        if rc != VMH_OK && rc != VMH_ERR_NO_DRIVER_ATTACHED { return rc }
    }
    return VMH_OK
}

private let stubDevDestruct: @convention(c) (UnsafeMutablePointer<VMHDevIns>?) -> Void = { ins in
    devLog(ins, "destruct")
    releaseState(ins?.pointee.data)
}

private func devSimple(_ name: String) -> @convention(c) (UnsafeMutablePointer<VMHDevIns>?) -> Int32 {
    switch name {
    case "initComplete": return { ins in devStatus(ins, "initComplete") }
    case "powerOn": return { ins in devStatus(ins, "powerOn") }
    default: return { ins in devStatus(ins, "resume") }
    }
}

private func devStatus(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ name: String) -> Int32 {
    devLog(ins, name)
    return stubState(ins?.pointee.data)?.failOn == name ? VMH_ERR_GENERAL : VMH_OK
}

private func devQuiesce(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ name: String) {
    guard let ins, let state = stubState(ins.pointee.data) else { return }
    devLog(ins, name)
    guard state.asyncMs > 0 || state.neverComplete, state.asyncOn.contains(name) else { return }
    state.pendingOperation = name
    state.completed.store(false, ordering: .relaxed)
    let hlp = ins.pointee.hlp.pointee
    guard hlp.setAsyncNotification(ins, { ins in
        guard let ins, let state = stubState(ins.pointee.data) else { return true }
        guard state.completed.load(ordering: .acquiring) else { return false }
        devLog(ins, "\(state.pendingOperation)-done")
        return true
    }) == VMH_OK else { return }
    if !state.neverComplete {
        let insAddress = UInt(bitPattern: ins)
        StubWorker(state: state, ms: state.asyncMs) {
            guard let ins = UnsafeMutablePointer<VMHDevIns>(bitPattern: insAddress) else { return }
            ins.pointee.hlp.pointee.asyncNotificationCompleted(ins)
        }.start()
    }
}

// MARK: - Driver

private func drvLog(_ ins: UnsafeMutablePointer<VMHDrvIns>?, _ message: String) {
    guard let ins, let state = stubState(ins.pointee.data), !state.quiet else { return }
    message.withCString { ins.pointee.hlp.pointee.log(ins, VMH_LOG_INFO, $0) }
}

private let stubDrvConstruct: @convention(c) (UnsafeMutablePointer<VMHDrvIns>?, UInt32) -> Int32 = { ins, _ in
    guard let ins else { return VMH_ERR_INVALID_PARAMETER }
    let state = StubState()
    storeState(state, in: ins.pointee.data)
    let hlp = ins.pointee.hlp.pointee
    let reader = StubSettingsReader(
        string: { key in
            var buf = [CChar](repeating: 0, count: 256)
            return hlp.cfgQueryString(ins, key, &buf, buf.count) == VMH_OK ? cArrayString(buf) : nil
        },
        integer: { key in
            var v: Int64 = 0
            return hlp.cfgQueryInteger(ins, key, &v) == VMH_OK ? v : nil
        },
        bool: { key in
            var v = false
            return hlp.cfgQueryBool(ins, key, &v) == VMH_OK ? v : nil
        })
    reader.fill(state)
    drvLog(ins, "construct")
    guard hlp.cfgValidate(ins, "async-ms|async-on|never-complete|fail-on|quiet") == VMH_OK else {
        return VMH_ERR_UNKNOWN_CONFIG_KEY
    }
    if state.failOn == "construct" { return VMH_ERR_GENERAL }
    let rc = hlp.attachBelow(ins, 0)
    return rc == VMH_ERR_NO_DRIVER_ATTACHED ? VMH_OK : rc
}

private func drvStatus(_ ins: UnsafeMutablePointer<VMHDrvIns>?, _ name: String) -> Int32 {
    drvLog(ins, name)
    return stubState(ins?.pointee.data)?.failOn == name ? VMH_ERR_GENERAL : VMH_OK
}

private func drvQuiesce(_ ins: UnsafeMutablePointer<VMHDrvIns>?, _ name: String) {
    guard let ins, let state = stubState(ins.pointee.data) else { return }
    drvLog(ins, name)
    guard state.asyncMs > 0 || state.neverComplete, state.asyncOn.contains(name) else { return }
    state.pendingOperation = name
    state.completed.store(false, ordering: .relaxed)
    let hlp = ins.pointee.hlp.pointee
    guard hlp.setAsyncNotification(ins, { ins in
        guard let ins, let state = stubState(ins.pointee.data) else { return true }
        guard state.completed.load(ordering: .acquiring) else { return false }
        drvLog(ins, "\(state.pendingOperation)-done")
        return true
    }) == VMH_OK else { return }
    if !state.neverComplete {
        let insAddress = UInt(bitPattern: ins)
        StubWorker(state: state, ms: state.asyncMs) {
            guard let ins = UnsafeMutablePointer<VMHDrvIns>(bitPattern: insAddress) else { return }
            ins.pointee.hlp.pointee.asyncNotificationCompleted(ins)
        }.start()
    }
}

// MARK: - Registration

nonisolated(unsafe) private let stubDeviceReg = makeStubDevice(name: "Stub", flags: 0)
nonisolated(unsafe) private let stubFirstDeviceReg = makeStubDevice(
    name: "StubFirst",
    flags: UInt32(VMH_DEVREG_F_FIRST_SUSPEND | VMH_DEVREG_F_FIRST_POWEROFF | VMH_DEVREG_F_FIRST_RESET))

private func makeStubDevice(name: String, flags: UInt32) -> UnsafePointer<VMHDeviceReg> {
    StaticRegistrations.device(name: name, flags: flags, maxInstances: 1024) { reg in
        reg.construct = stubDevConstruct
        reg.destruct = stubDevDestruct
        reg.initComplete = devSimple("initComplete")
        reg.powerOn = devSimple("powerOn")
        reg.resume = devSimple("resume")
        reg.suspend = { ins in devQuiesce(ins, "suspend") }
        reg.powerOff = { ins in devQuiesce(ins, "powerOff") }
        reg.reset = { ins in devQuiesce(ins, "reset") }
    }
}

nonisolated(unsafe) private let stubDriverReg = StaticRegistrations.driver(name: "StubDriver", maxInstances: 4096) { reg in
    reg.construct = stubDrvConstruct
    reg.destruct = { ins in
        drvLog(ins, "destruct")
        releaseState(ins?.pointee.data)
    }
    reg.initComplete = { ins in drvStatus(ins, "initComplete") }
    reg.powerOn = { ins in drvStatus(ins, "powerOn") }
    reg.resume = { ins in drvStatus(ins, "resume") }
    reg.suspend = { ins in drvQuiesce(ins, "suspend") }
    reg.powerOff = { ins in drvQuiesce(ins, "powerOff") }
    reg.reset = { ins in drvQuiesce(ins, "reset") }
    reg.queryInterface = { ins, iid in
        guard let ins, let iid else { return nil }
        return ins.pointee.hlp.pointee.queryBelow(ins, iid)
    }
}

private let stubEntry: VMHPluginEntry = { registrar, _ in
    guard let registrar else { return VMH_ERR_INVALID_PARAMETER }
    let r = registrar.pointee
    for reg in [stubDeviceReg, stubFirstDeviceReg] {
        let rc = r.registerDevice(registrar, reg)
        if rc != VMH_OK { return rc }
    }
    return r.registerDriver(registrar, stubDriverReg)
}

/// The NUL-terminated text in a C char buffer.
func cArrayString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
