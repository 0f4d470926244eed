/// A module whose registrations the registry holds: a loaded shared object or an in-process (static) entry point.
public struct PluginModule: Hashable, Sendable, CustomStringConvertible {
    /// Module name: the file name without `lib` and `.so` (`libSerial16550.so` → `Serial16550`), or the name given
    /// to `registerStatic`.
    public let name: String
    /// The file as given to `load(path:)`; nil for a static module.
    public let path: String?
    /// The resolved path (symlinks followed) used to detect a second load of the same file; nil for static ones.
    public let resolvedPath: String?
    /// The `.note.vmhost` ABI note, when the file has one.
    public let abiNote: PluginABINote?
    /// Names of the device types the module registered, in registration order.
    public let deviceNames: [String]
    /// Names of the driver types the module registered, in registration order.
    public let driverNames: [String]

    public init(name: String, path: String?, resolvedPath: String?, abiNote: PluginABINote?, deviceNames: [String],
                driverNames: [String]) {
        self.name = name
        self.path = path
        self.resolvedPath = resolvedPath
        self.abiNote = abiNote
        self.deviceNames = deviceNames
        self.driverNames = driverNames
    }

    /// What messages call the module: its path, or `<name> (static)`.
    public var displayName: String { path ?? "\(name) (static)" }

    public var description: String {
        "\(displayName): devices [\(deviceNames.joined(separator: ", "))], drivers [\(driverNames.joined(separator: ", "))]"
    }

    /// The module name for a plugin file name: `libSerial16550.so` → `Serial16550`.
    public static func moduleName(forFile fileName: String) -> String {
        var name = Substring(fileName)
        if name.hasPrefix("lib") { name = name.dropFirst(3) }
        if name.hasSuffix(".so") { name = name.dropLast(3) }
        return name.isEmpty ? fileName : String(name)
    }
}
