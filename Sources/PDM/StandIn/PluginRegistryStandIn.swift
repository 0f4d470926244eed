// TEMPORARY stand-in for the pdm-loader helper's PluginRegistry (same shape); deleted once theirs lands in main.
import CVMHostABI
import Synchronization

public struct DeviceType: @unchecked Sendable {
    public let registration: UnsafePointer<VMHDeviceReg>
    public let moduleName: String
}

public struct DriverType: @unchecked Sendable {
    public let registration: UnsafePointer<VMHDriverReg>
    public let moduleName: String
}

public final class PluginRegistry: @unchecked Sendable {
    private struct State {
        var devices: [String: DeviceType] = [:]
        var drivers: [String: DriverType] = [:]
        var currentModule = ""
    }
    private let state = Mutex(State())

    public init() {}

    public func device(named name: String) -> DeviceType? { state.withLock { $0.devices[name] } }
    public func driver(named name: String) -> DriverType? { state.withLock { $0.drivers[name] } }

    public struct StandInError: Error { public let status: Int32 }
    public func registerStatic(moduleName: String, entry: VMHPluginEntry) throws -> PluginModule {
        state.withLock { $0.currentModule = moduleName }
        var registrar = VMHRegistrar()
        registrar.version = HostABIVersions.make(0xa001, 1, 0)
        registrar.versionEnd = registrar.version
        registrar.abiVersion = HostABIVersions.make(0x564d, 1, 0)
        registrar.hostPrivate = Unmanaged.passUnretained(self).toOpaque()
        registrar.registerDevice = { r, reg in
            guard let r, let reg, let p = r.pointee.hostPrivate else { return VMH_ERR_INVALID_PARAMETER }
            let me = Unmanaged<PluginRegistry>.fromOpaque(p).takeUnretainedValue()
            let name = withUnsafeBytes(of: reg.pointee.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return me.state.withLock { s in
                guard s.devices[name] == nil else { return VMH_ERR_ALREADY_EXISTS }
                s.devices[name] = DeviceType(registration: reg, moduleName: s.currentModule)
                return VMH_OK
            }
        }
        registrar.registerDriver = { r, reg in
            guard let r, let reg, let p = r.pointee.hostPrivate else { return VMH_ERR_INVALID_PARAMETER }
            let me = Unmanaged<PluginRegistry>.fromOpaque(p).takeUnretainedValue()
            let name = withUnsafeBytes(of: reg.pointee.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return me.state.withLock { s in
                guard s.drivers[name] == nil else { return VMH_ERR_ALREADY_EXISTS }
                s.drivers[name] = DriverType(registration: reg, moduleName: s.currentModule)
                return VMH_OK
            }
        }
        let status = withUnsafePointer(to: &registrar) { entry($0, HostABIVersions.make(0x564d, 1, 0)) }
        if status != VMH_OK { throw StandInError(status: status) }
        return PluginModule(name: moduleName)
    }
}

public struct PluginModule: Sendable { public let name: String }
extension PluginRegistry {
    public func load(path: String) throws -> PluginModule { throw StandInError(status: VMH_ERR_NOT_SUPPORTED) }
}
