/// What `PluginRegistry.inspect(path:)` found out about a plugin file without loading it.
public struct PluginFileInspection: Hashable, Sendable {
    /// The file as given.
    public let path: String
    /// The file with symlinks resolved.
    public let resolvedPath: String
    /// The module name the file would load as (`libSerial16550.so` → `Serial16550`).
    public let moduleName: String
    /// The `.note.vmhost` ABI note, when the file has one (already judged compatible with this host).
    public let abiNote: PluginABINote?

    public init(path: String, resolvedPath: String, moduleName: String, abiNote: PluginABINote?) {
        self.path = path
        self.resolvedPath = resolvedPath
        self.moduleName = moduleName
        self.abiNote = abiNote
    }
}
