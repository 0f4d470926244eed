import CVMHostABI

/// A registered device type: the plugin's `VMHDeviceReg` (kept by pointer, never copied; it lives in the module,
/// which is never unloaded) and the values read from it at registration.
public struct DeviceType: @unchecked Sendable, Hashable, CustomStringConvertible {
    /// The plugin's registration struct (immutable, valid for the life of the process).
    public let registration: UnsafePointer<VMHDeviceReg>
    public let name: String
    /// The one-line description, "" when the plugin gave none.
    public let summary: String
    /// `VMH_DEVREG_F_*`.
    public let flags: UInt32
    /// Default instantiation order (`VMH_DEVORDER_*`).
    public let order: UInt32
    public let maxInstances: UInt32
    public let instanceSize: UInt32
    /// The `VMH_DEVHLP_VERSION` the plugin was compiled against (`hlpVersion`).
    public let helperVersion: ABIVersion
    /// The module that registered it.
    public let module: PluginModule

    public var description: String { "device \(name) (\(module.displayName))" }
}

/// A registered driver type: the plugin's `VMHDriverReg` (kept by pointer) and the values read from it.
public struct DriverType: @unchecked Sendable, Hashable, CustomStringConvertible {
    /// The plugin's registration struct (immutable, valid for the life of the process).
    public let registration: UnsafePointer<VMHDriverReg>
    public let name: String
    /// The one-line description, "" when the plugin gave none.
    public let summary: String
    /// `VMH_DRVREG_F_*` (none defined yet).
    public let flags: UInt32
    public let maxInstances: UInt32
    public let instanceSize: UInt32
    /// The `VMH_DRVHLP_VERSION` the plugin was compiled against (`hlpVersion`).
    public let helperVersion: ABIVersion
    /// The module that registered it.
    public let module: PluginModule

    public var description: String { "driver \(name) (\(module.displayName))" }
}
