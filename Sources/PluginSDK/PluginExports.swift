/// The module entry point's work: checks the host's versions and registers device and driver types.
///
/// A plugin module exports one function; with the SDK it is one line:
/// ```swift
/// @_cdecl("vmhost_plugin_register")
/// public func vmhostPluginRegister(_ r: UnsafePointer<VMHRegistrar>?, _ v: UInt32) -> Int32 {
///     PluginExports.register(r, v, devices: [MyDevice.self], drivers: [MyDriver.self])
/// }
/// ```
public enum PluginExports {
    /// Registers `devices` and `drivers` with the host's registrar and returns the status for the entry point:
    /// `VMH_ERR_VERSION_MISMATCH` when the host's ABI or registrar does not satisfy what this module was built
    /// against, the host's refusal if it refuses a type, an SDK error for a type whose declaration is invalid
    /// (bad name, zero instances, unknown flags), else `VMH_OK`.
    public static func register(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32,
                                devices: [any DevicePlugin.Type] = [],
                                drivers: [any DriverPlugin.Type] = []) -> Int32 {
        switch registerTypes(registrar, hostAbiVersion, devices: devices, drivers: drivers) {
        case .success: VMH_OK
        case .failure(let error): error.status.rawValue
        }
    }

    /// As ``register(_:_:devices:drivers:)``, but returns the error (with a message naming the type at fault).
    public static func registerTypes(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32,
                                     devices: [any DevicePlugin.Type] = [],
                                     drivers: [any DriverPlugin.Type] = []) -> Result<Void, PluginError> {
        guard let registrar else { return .failure(PluginError(.invalidParameter, "no registrar")) }
        guard ABIVersion.satisfies(have: hostAbiVersion, built: ABIVersion.abi) else {
            return .failure(PluginError(.versionMismatch, "host ABI \(ABIVersion.describe(hostAbiVersion)) does not "
                                        + "satisfy \(ABIVersion.describe(ABIVersion.abi))"))
        }
        let table = registrar.pointee
        guard table.version == table.versionEnd,
              ABIVersion.satisfies(have: table.version, built: ABIVersion.registrar)
        else {
            return .failure(PluginError(.versionMismatch, "host registrar \(ABIVersion.describe(table.version)) "
                                        + "does not satisfy \(ABIVersion.describe(ABIVersion.registrar))"))
        }
        do {
            for type in devices {
                let reg = try RegistrationTable.shared.deviceRegistration(for: type)
                guard let registerDevice = table.registerDevice else {
                    throw PluginError(.notSupported, "the host registrar has no registerDevice")
                }
                let status = registerDevice(registrar, reg)
                guard status == VMH_OK else {
                    throw PluginError(PluginStatus(rawValue: status), "the host refused device '\(type.name)'")
                }
            }
            for type in drivers {
                let reg = try RegistrationTable.shared.driverRegistration(for: type)
                guard let registerDriver = table.registerDriver else {
                    throw PluginError(.notSupported, "the host registrar has no registerDriver")
                }
                let status = registerDriver(registrar, reg)
                guard status == VMH_OK else {
                    throw PluginError(PluginStatus(rawValue: status), "the host refused driver '\(type.name)'")
                }
            }
            return .success(())
        } catch let error as PluginError {
            return .failure(error)
        } catch {
            return .failure(PluginError(.general, "\(error)"))
        }
    }
}
