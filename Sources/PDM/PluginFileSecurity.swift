#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Refuses plugin files that someone other than their owner could have replaced: the file and the directory it is
/// in must not be writable by group or others.
enum PluginFileSecurity {
    /// The file's resolved path (symlinks followed) when it exists, is a regular file, and neither it nor its
    /// directory is writable by group or others.
    static func check(path: String) throws(PluginLoadError) -> String {
        guard let resolvedC = realpath(path, nil) else {
            let code = errno
            let reason = code == ENOENT ? "no such file" : "cannot resolve path: \(text(code))"
            throw PluginLoadError(path: path, kind: .unreadable, reason: reason)
        }
        let resolved = String(cString: resolvedC)
        free(resolvedC)
        var info = stat()
        guard stat(resolved, &info) == 0 else {
            throw PluginLoadError(path: path, kind: .unreadable, reason: "cannot stat: \(text(errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw PluginLoadError(path: path, kind: .unreadable, reason: "not a regular file")
        }
        if let who = writers(info.st_mode) {
            throw PluginLoadError(path: path, kind: .insecurePermissions,
                                  reason: "file is writable by \(who) (mode \(mode(info.st_mode))); refusing to load it")
        }
        let directory = parent(of: resolved)
        var dirInfo = stat()
        guard stat(directory, &dirInfo) == 0 else {
            throw PluginLoadError(path: path, kind: .unreadable, reason: "cannot stat directory \(directory): \(text(errno))")
        }
        if let who = writers(dirInfo.st_mode) {
            throw PluginLoadError(path: path, kind: .insecurePermissions,
                                  reason: "directory \(directory) is writable by \(who) (mode \(mode(dirInfo.st_mode))); "
                                      + "refusing to load from it")
        }
        return resolved
    }

    private static func writers(_ mode: mode_t) -> String? {
        switch (mode & S_IWGRP != 0, mode & S_IWOTH != 0) {
        case (true, true): return "group and others"
        case (true, false): return "group"
        case (false, true): return "others"
        case (false, false): return nil
        }
    }

    private static func mode(_ mode: mode_t) -> String {
        let octal = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - octal.count)) + octal
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func text(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "errno \(code)" }
        return String(cString: message)
    }
}
