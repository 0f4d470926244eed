#if canImport(Glibc)
import Glibc
#endif

/// Where `vmhost` looks for plugin `.so` files, in order: `--plugin-path` options, the configuration's
/// `plugin-paths`, `$VMHOST_PLUGIN_PATH` (colon-separated), then the folder of the `vmhost` executable (where
/// SwiftPM puts the plugin products).
enum PluginSearchPath {
    static func resolve(explicit: [String], fromConfig: [String] = []) -> [String] {
        var paths = explicit + fromConfig
        if let env = getenv("VMHOST_PLUGIN_PATH") {
            paths += String(cString: env).split(separator: ":").map(String.init)
        }
        if let dir = executableDirectory() { paths.append(dir) }
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }

    /// The folder holding the running executable (`/proc/self/exe`).
    static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }
}
