/// What `PluginRegistry.loadAll(searchPaths:)` or `loadNeeded(devices:drivers:searchPaths:)` did: the modules it
/// loaded, the files it refused and the plugin files it left alone.
public struct PluginLoadReport: Sendable {
    /// Modules loaded, in load order.
    public var loaded: [PluginModule]
    /// Refusals, in load order; each names its file (or the search directory that could not be listed).
    public var refused: [PluginLoadError]
    /// Plugin files found but not loaded, because nothing asked for what they register (`loadNeeded` only).
    public var notLoaded: [String] = []

    public init(loaded: [PluginModule] = [], refused: [PluginLoadError] = []) {
        self.loaded = loaded
        self.refused = refused
    }
}
