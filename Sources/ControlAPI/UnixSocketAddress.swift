import Glibc

/// A Unix-domain socket address for a path, for the `bind`/`connect` calls of the server and the client.
enum UnixSocketAddress {
    /// Calls `body` with `path` as a `sockaddr_un` (bytes past the capacity less the NUL are dropped: callers check
    /// the length first, `SocketSecurity.checkBeforeBind` and `ControlClient.connect`).
    static func with<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
