#if canImport(Glibc)
import Glibc
#endif
import PDM

/// Where `vmhost` looks for plugin `.so` files, in order: `--plugin-path` options, the configuration's
/// `plugin-paths`, `$VMHOST_PLUGIN_PATH` (colon-separated), then the folder of the `vmhost` executable (where
/// SwiftPM puts the plugin products).
enum PluginSearchPath {
    static func resolve(explicit: [String], fromConfig: [String] = []) -> [String] {
        var paths = explicit + fromConfig
        if let env = getenv("VMHOST_PLUGIN_PATH") {
            paths += String(cString: env).split(separator: ":").map(String.init)
        }
        if let dir = ExecutableLocation.directory { paths.append(dir) }
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }
}
