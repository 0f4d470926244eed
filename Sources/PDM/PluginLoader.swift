import CVMHostABI

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Maps a checked plugin file and finds its entry point.
///
/// Modules are opened with `RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE` and never closed: unresolved symbols fail the
/// load at once, a plugin's symbols do not leak into the next one, and code of a plugin (Swift type metadata in
/// particular) stays mapped for the life of the process.
enum PluginLoader {
    /// The entry point of the module at `resolvedPath` (named `path` in messages).
    static func openEntry(resolvedPath: String, path: String) throws(PluginLoadError) -> VMHPluginEntry {
        _ = dlerror()
        guard let handle = dlopen(resolvedPath, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            throw PluginLoadError(path: path, kind: .dynamicLinker, reason: "dlopen failed: \(lastError())")
        }
        _ = dlerror()
        guard let symbol = dlsym(handle, ELFPluginInspector.entryName) else {
            throw PluginLoadError(path: path, kind: .noEntryPoint,
                                  reason: "dlsym(\(ELFPluginInspector.entryName)) failed: \(lastError())")
        }
        return unsafeBitCast(symbol, to: VMHPluginEntry.self)
    }

    private static func lastError() -> String {
        guard let message = dlerror() else { return "unknown error" }
        return String(cString: message)
    }
}
