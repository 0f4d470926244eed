import Glibc

/// The control socket, made before the event loop exists: `socket` → `bind` → `chmod 0600` → `listen`.
///
/// Connections queue in the kernel from the moment `listen` returns, while the event loop starts on its own
/// thread; and since the mode is set before `listen`, no other user can connect at any instant (connecting needs
/// write permission on the socket file). A stale socket at the path (left by a VM process that died) is
/// replaced; a socket that still accepts connections belongs to a live server and is refused, never stolen.
enum ListeningSocket {
    /// Returns the listening, non-blocking, close-on-exec descriptor bound to `path`.
    static func open(path: String, uid: uid_t, backlog: Int32) throws(ControlServerError) -> Int32 {
        if isSocket(path) {
            if acceptsConnections(path) { throw .socketInUse(path: path) }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                            | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .socketFailed(path: path, reason: "socket: " + String(cString: strerror(errno))) }
        var address = self.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .socketFailed(path: path, reason: "bind: " + reason)
        }
        do throws(ControlServerError) {
            try SocketSecurity.protectSocket(path: path, uid: uid)
            guard listen(fd, backlog) == 0 else {
                throw .socketFailed(path: path, reason: "listen: " + String(cString: strerror(errno)))
            }
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        return fd
    }

    private static func isSocket(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }

    /// Whether a server is listening on the socket at `path`: a stale socket file refuses the connection; a live
    /// one accepts it, or has its backlog full (EAGAIN: the connect is non-blocking so a busy server cannot
    /// stall this start).
    private static func acceptsConnections(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                            | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = self.address(path)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return rc == 0 || errno == EAGAIN
    }

    /// `path` as a Unix socket address (the caller has checked that it fits).
    private static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
        }
        return address
    }
}
