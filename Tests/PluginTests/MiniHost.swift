// A minimal in-test host for plugin tests (the PluginTestKit lands later): dlopens a plugin `.so` from the build
// products folder, records its registrations, and constructs instances with a helper table whose configuration
// comes from a dictionary and whose log lines are captured. VMM services answer VMH_ERR_NOT_SUPPORTED.
import CVMHostABI
import Foundation
import Synchronization

/// A settings value for MiniHost instances.
enum MiniValue {
    case string(String)
    case integer(Int64)
    case bool(Bool)
}

struct MiniHostError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func miniVersion(_ magic: UInt32, _ major: UInt32, _ minor: UInt32) -> UInt32 {
    magic << 16 | major << 8 | minor
}

func miniName<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
}

/// Folder of the test executable, where SwiftPM puts `lib<Name>.so`.
func productsFolder() -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
    var folder = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // An .xctest bundle may sit below the products folder: walk up to the folder holding the plugins.
    while folder.path != "/",
          !FileManager.default.fileExists(atPath: folder.appendingPathComponent("libProbeDevice.so").path) {
        folder = folder.deletingLastPathComponent()
    }
    return folder.path
}

private final class RegistrationBox {
    var devices: [UnsafePointer<VMHDeviceReg>] = []
    var drivers: [UnsafePointer<VMHDriverReg>] = []
}

/// One dlopen'ed plugin module with the registrations its entry point made.
final class MiniModule: @unchecked Sendable {
    let path: String
    let devices: [UnsafePointer<VMHDeviceReg>]
    let drivers: [UnsafePointer<VMHDriverReg>]
    let entryStatus: Int32

    init(plugin name: String, abiVersion: UInt32 = miniVersion(0x564d, 1, 0),
         registrarVersion: UInt32 = miniVersion(0xa001, 1, 0)) throws {
        path = productsFolder() + "/lib\(name).so"
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            throw MiniHostError("dlopen \(path): \(String(cString: dlerror()))")
        }
        guard let symbol = dlsym(handle, VMH_PLUGIN_ENTRY_NAME) else {
            throw MiniHostError("\(path) exports no \(VMH_PLUGIN_ENTRY_NAME)")
        }
        let entry = unsafeBitCast(symbol, to: VMHPluginEntry.self)
        var registrar = VMHRegistrar()
        registrar.version = registrarVersion
        registrar.abiVersion = abiVersion
        registrar.versionEnd = registrar.version
        let box = RegistrationBox()
        registrar.hostPrivate = Unmanaged.passUnretained(box).toOpaque()
        registrar.registerDevice = { registrar, reg in
            guard let registrar, let reg, let box = registrar.pointee.hostPrivate else {
                return VMH_ERR_INVALID_PARAMETER
            }
            Unmanaged<RegistrationBox>.fromOpaque(box).takeUnretainedValue().devices.append(reg)
            return VMH_OK
        }
        registrar.registerDriver = { registrar, reg in
            guard let registrar, let reg, let box = registrar.pointee.hostPrivate else {
                return VMH_ERR_INVALID_PARAMETER
            }
            Unmanaged<RegistrationBox>.fromOpaque(box).takeUnretainedValue().drivers.append(reg)
            return VMH_OK
        }
        entryStatus = withUnsafePointer(to: &registrar) { entry($0, abiVersion) }
        devices = box.devices
        drivers = box.drivers
    }

    func device(_ name: String) -> UnsafePointer<VMHDeviceReg>? {
        devices.first { miniName($0.pointee.name) == name }
    }

    func driver(_ name: String) -> UnsafePointer<VMHDriverReg>? {
        drivers.first { miniName($0.pointee.name) == name }
    }
}

/// The host side of one instance: settings, captured log, async bookkeeping.
final class MiniInstanceState: @unchecked Sendable {
    let settings: [String: MiniValue]
    private let lines = Mutex<[String]>([])
    private let errors = Mutex<[String]>([])
    var devicePoller: VMHDevAsyncNotify?
    var driverPoller: VMHDrvAsyncNotify?
    let completions = Atomic<Int>(0)

    init(settings: [String: MiniValue]) { self.settings = settings }

    var log: [String] { lines.withLock { $0 } }
    var configErrors: [String] { errors.withLock { $0 } }

    func append(line: String) { lines.withLock { $0.append(line) } }
    func append(configError: String) { errors.withLock { $0.append(configError) } }
}

private func hostState(_ hostPrivate: UnsafeMutableRawPointer?) -> MiniInstanceState? {
    hostPrivate.map { Unmanaged<MiniInstanceState>.fromOpaque($0).takeUnretainedValue() }
}

private func queryString(_ s: MiniInstanceState?, _ key: UnsafePointer<CChar>?, _ buf: UnsafeMutablePointer<CChar>?,
                         _ size: Int) -> Int32 {
    guard let s, let key, let buf else { return VMH_ERR_INVALID_PARAMETER }
    guard let value = s.settings[String(cString: key)] else { return VMH_ERR_NOT_FOUND }
    guard case .string(let text) = value else { return VMH_ERR_WRONG_TYPE }
    let bytes = Array(text.utf8CString)
    guard bytes.count <= size else { return VMH_ERR_BUFFER_TOO_SMALL }
    for (i, b) in bytes.enumerated() { buf[i] = b }
    return VMH_OK
}

private func queryInteger(_ s: MiniInstanceState?, _ key: UnsafePointer<CChar>?,
                          _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    guard let s, let key, let out else { return VMH_ERR_INVALID_PARAMETER }
    guard let value = s.settings[String(cString: key)] else { return VMH_ERR_NOT_FOUND }
    guard case .integer(let number) = value else { return VMH_ERR_WRONG_TYPE }
    out.pointee = number
    return VMH_OK
}

private func queryBool(_ s: MiniInstanceState?, _ key: UnsafePointer<CChar>?,
                       _ out: UnsafeMutablePointer<Bool>?) -> Int32 {
    guard let s, let key, let out else { return VMH_ERR_INVALID_PARAMETER }
    guard let value = s.settings[String(cString: key)] else { return VMH_ERR_NOT_FOUND }
    guard case .bool(let flag) = value else { return VMH_ERR_WRONG_TYPE }
    out.pointee = flag
    return VMH_OK
}

private func validate(_ s: MiniInstanceState?, _ allowed: UnsafePointer<CChar>?) -> Int32 {
    guard let s, let allowed else { return VMH_ERR_INVALID_PARAMETER }
    let keys = Set(String(cString: allowed).split(separator: "|").map(String.init))
    return s.settings.keys.allSatisfy(keys.contains) ? VMH_OK : VMH_ERR_UNKNOWN_CONFIG_KEY
}

private func configError(_ s: MiniInstanceState?, _ key: UnsafePointer<CChar>?,
                         _ message: UnsafePointer<CChar>?) -> Int32 {
    guard let s, let key, let message else { return VMH_ERR_INVALID_PARAMETER }
    s.append(configError: "\(String(cString: key)): \(String(cString: message))")
    return VMH_OK
}

nonisolated(unsafe) let miniDevHlp: UnsafeMutablePointer<VMHDevHlp> = {
    var h = VMHDevHlp()
    h.version = miniVersion(0xa012, 1, 2)
    h.versionEnd = h.version
    h.log = { ins, _, message in
        guard let message else { return }
        hostState(ins?.pointee.hostPrivate)?.append(line: String(cString: message))
    }
    h.cfgValidate = { ins, allowed in validate(hostState(ins?.pointee.hostPrivate), allowed) }
    h.cfgQueryString = { ins, key, buf, size in queryString(hostState(ins?.pointee.hostPrivate), key, buf, size) }
    h.cfgQueryInteger = { ins, key, out in queryInteger(hostState(ins?.pointee.hostPrivate), key, out) }
    h.cfgQueryBool = { ins, key, out in queryBool(hostState(ins?.pointee.hostPrivate), key, out) }
    h.cfgError = { ins, key, message in configError(hostState(ins?.pointee.hostPrivate), key, message) }
    h.driverAttach = { _, _ in VMH_ERR_NO_DRIVER_ATTACHED }
    h.queryLunInterface = { _, _, _ in nil }
    h.setAsyncNotification = { ins, poller in
        guard let s = hostState(ins?.pointee.hostPrivate) else { return VMH_ERR_INVALID_PARAMETER }
        s.devicePoller = poller
        return VMH_OK
    }
    h.asyncNotificationCompleted = { ins in
        hostState(ins?.pointee.hostPrivate)?.completions.add(1, ordering: .sequentiallyConsistent)
    }
    h.ioPortRegister = { _, _, _, _, _, _, _ in VMH_ERR_NOT_SUPPORTED }
    h.mmioRegister = { _, _, _, _, _, _, _ in VMH_ERR_NOT_SUPPORTED }
    h.physRead = { _, _, _, _ in VMH_ERR_NOT_SUPPORTED }
    h.physWrite = { _, _, _, _ in VMH_ERR_NOT_SUPPORTED }
    h.setIrq = { _, _, _ in VMH_ERR_NOT_SUPPORTED }
    h.timerCreate = { _, _, _, _, _ in VMH_ERR_NOT_SUPPORTED }
    h.timerArm = { _, _, _ in VMH_ERR_NOT_SUPPORTED }
    h.timerStop = { _, _ in VMH_ERR_NOT_SUPPORTED }
    h.clockNanoseconds = { _ in 0 }
    h.vmPowerOff = { _, _ in VMH_ERR_NOT_SUPPORTED }
    h.vmSuspend = { _, _ in VMH_ERR_NOT_SUPPORTED }
    let p = UnsafeMutablePointer<VMHDevHlp>.allocate(capacity: 1)
    p.initialize(to: h)
    return p
}()

nonisolated(unsafe) let miniDrvHlp: UnsafeMutablePointer<VMHDrvHlp> = {
    var h = VMHDrvHlp()
    h.version = miniVersion(0xa022, 1, 0)
    h.versionEnd = h.version
    h.log = { ins, _, message in
        guard let message else { return }
        hostState(ins?.pointee.hostPrivate)?.append(line: String(cString: message))
    }
    h.cfgValidate = { ins, allowed in validate(hostState(ins?.pointee.hostPrivate), allowed) }
    h.cfgQueryString = { ins, key, buf, size in queryString(hostState(ins?.pointee.hostPrivate), key, buf, size) }
    h.cfgQueryInteger = { ins, key, out in queryInteger(hostState(ins?.pointee.hostPrivate), key, out) }
    h.cfgQueryBool = { ins, key, out in queryBool(hostState(ins?.pointee.hostPrivate), key, out) }
    h.cfgError = { ins, key, message in configError(hostState(ins?.pointee.hostPrivate), key, message) }
    h.attachBelow = { _, _ in VMH_ERR_NO_DRIVER_ATTACHED }
    h.queryBelow = { _, _ in nil }
    h.queryAbove = { _, _ in nil }
    h.setAsyncNotification = { ins, poller in
        guard let s = hostState(ins?.pointee.hostPrivate) else { return VMH_ERR_INVALID_PARAMETER }
        s.driverPoller = poller
        return VMH_OK
    }
    h.asyncNotificationCompleted = { ins in
        hostState(ins?.pointee.hostPrivate)?.completions.add(1, ordering: .sequentiallyConsistent)
    }
    h.clockNanoseconds = { _ in 0 }
    let p = UnsafeMutablePointer<VMHDrvHlp>.allocate(capacity: 1)
    p.initialize(to: h)
    return p
}()

/// A device instance made by MiniHost (constructed in init).
final class MiniDevice: @unchecked Sendable {
    let ins: UnsafeMutablePointer<VMHDevIns>
    let reg: UnsafePointer<VMHDeviceReg>
    let state: MiniInstanceState
    let constructStatus: Int32

    init(_ reg: UnsafePointer<VMHDeviceReg>, settings: [String: MiniValue] = [:],
         instanceVersion: UInt32 = miniVersion(0xa011, 1, 0)) {
        self.reg = reg
        state = MiniInstanceState(settings: settings)
        ins = .allocate(capacity: 1)
        var i = VMHDevIns()
        i.version = instanceVersion
        i.hlp = UnsafePointer(miniDevHlp)
        i.reg = reg
        let size = max(Int(reg.pointee.instanceSize), 1)
        let data = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        i.data = data
        i.name = UnsafePointer(strdup("\(miniName(reg.pointee.name))/0"))
        i.hostPrivate = Unmanaged.passRetained(state).toOpaque()
        ins.initialize(to: i)
        constructStatus = reg.pointee.construct?(ins) ?? VMH_ERR_GENERAL
    }

    /// Runs an async-capable callback and polls until done (at most `maxPolls` polls 10 ms apart). True when done.
    func runAsync(_ callback: ((UnsafeMutablePointer<VMHDevIns>?) -> Void)?, maxPolls: Int = 500) -> Bool {
        state.devicePoller = nil
        callback?(ins)
        guard let poller = state.devicePoller else { return true }
        for _ in 0..<maxPolls {
            if poller(ins) { return true }
            usleep(10_000)
        }
        return false
    }

    func destruct() {
        reg.pointee.destruct?(ins)
    }
}

/// A driver instance made by MiniHost (constructed in init).
final class MiniDriver: @unchecked Sendable {
    let ins: UnsafeMutablePointer<VMHDrvIns>
    let reg: UnsafePointer<VMHDriverReg>
    let state: MiniInstanceState
    let constructStatus: Int32

    init(_ reg: UnsafePointer<VMHDriverReg>, settings: [String: MiniValue] = [:]) {
        self.reg = reg
        state = MiniInstanceState(settings: settings)
        ins = .allocate(capacity: 1)
        var i = VMHDrvIns()
        i.version = miniVersion(0xa021, 1, 0)
        i.hlp = UnsafePointer(miniDrvHlp)
        i.reg = reg
        let size = max(Int(reg.pointee.instanceSize), 1)
        let data = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        i.data = data
        i.name = UnsafePointer(strdup("dev/0/0/\(miniName(reg.pointee.name))/0"))
        i.hostPrivate = Unmanaged.passRetained(state).toOpaque()
        ins.initialize(to: i)
        constructStatus = reg.pointee.construct?(ins, 0) ?? VMH_ERR_GENERAL
    }

    func runAsync(_ callback: ((UnsafeMutablePointer<VMHDrvIns>?) -> Void)?, maxPolls: Int = 500) -> Bool {
        state.driverPoller = nil
        callback?(ins)
        guard let poller = state.driverPoller else { return true }
        for _ in 0..<maxPolls {
            if poller(ins) { return true }
            usleep(10_000)
        }
        return false
    }

    func destruct() {
        reg.pointee.destruct?(ins)
    }
}
