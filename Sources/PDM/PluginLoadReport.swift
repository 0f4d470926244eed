/// What `PluginRegistry.loadAll(searchPaths:)` did: the modules it loaded and the files it refused.
public struct PluginLoadReport: Sendable {
    /// Modules loaded, in load order.
    public var loaded: [PluginModule]
    /// Refusals, in load order; each names its file (or the search directory that could not be listed).
    public var refused: [PluginLoadError]

    public init(loaded: [PluginModule] = [], refused: [PluginLoadError] = []) {
        self.loaded = loaded
        self.refused = refused
    }
}
