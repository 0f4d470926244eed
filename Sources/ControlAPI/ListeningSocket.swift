import Glibc

/// The control socket, made before the event loop exists: `socket` → `bind` → `chmod 0600` → `listen`.
///
/// Connections queue in the kernel from the moment `listen` returns, while the event loop starts on its own
/// thread; and since the mode is set before `listen`, no other user can connect at any instant (connecting needs
/// write permission on the socket file).
///
/// One server per path: the server holds an exclusive `flock` on `PATH.lock` (next to the socket) from before it
/// looks at the path until it has removed its socket, so two VM processes started on one path cannot both bind,
/// nor delete each other's socket. A socket file left by a process that died (nobody accepts on it) is replaced;
/// one that still accepts connections — a server that takes no lock — is refused, never stolen. At the end only
/// the socket this server bound is removed (same inode), then the lock file.
struct ListeningSocket: Sendable {
    /// The listening, non-blocking, close-on-exec descriptor (handed to the event loop, which then owns it).
    let descriptor: Int32
    private let path: String
    private let lockDescriptor: Int32
    private let device: UInt64
    private let inode: UInt64

    /// The backlog `listen` gets (NIO sets the same value again when it takes the socket).
    static let backlog: Int32 = 128

    /// Takes the path's lock, clears a stale socket and binds, protects and listens on a new one.
    static func open(path: String, uid: uid_t) throws(ControlServerError) -> ListeningSocket {
        let lockPath = path + ".lock"
        let lock = try takeLock(lockPath, socketPath: path)
        do throws(ControlServerError) {
            if isSocket(path) {
                try checkStale(path)
                unlink(path)
            }
            let fd = try bindAndListen(path, uid: uid)
            var st = stat()
            guard lstat(path, &st) == 0 else {
                close(fd)
                throw .socketFailed(path: path, reason: "the socket vanished after bind")
            }
            return ListeningSocket(descriptor: fd, path: path, lockDescriptor: lock, device: UInt64(st.st_dev),
                                   inode: UInt64(st.st_ino))
        } catch {
            releaseLock(lock, path: lockPath)
            throw error
        }
    }

    /// Removes the socket if it is still the one this server bound, then the lock file; releases the lock.
    func remove() {
        var st = stat()
        if lstat(path, &st) == 0, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode {
            unlink(path)
        }
        Self.releaseLock(lockDescriptor, path: path + ".lock")
    }

    // MARK: The lock

    /// Opens (creating it 0600) and exclusively locks `lockPath`; `socketInUse` when another server holds it.
    /// After locking, the path must still name the locked file: a holder that removed it on its way out leaves
    /// this process a lock on a deleted file, so it starts over with the new one.
    private static func takeLock(_ lockPath: String, socketPath: String) throws(ControlServerError) -> Int32 {
        for _ in 0..<100 {
            let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else {
                throw .socketFailed(path: socketPath, reason: "lock file \(lockPath): " + errnoText(errno))
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                close(fd)
                if code == EWOULDBLOCK { throw .socketInUse(path: socketPath) }
                throw .socketFailed(path: socketPath, reason: "lock file \(lockPath): " + errnoText(code))
            }
            var held = stat()
            var named = stat()
            if fstat(fd, &held) == 0, lstat(lockPath, &named) == 0, held.st_dev == named.st_dev,
               held.st_ino == named.st_ino {
                return fd
            }
            close(fd)
        }
        throw .socketFailed(path: socketPath, reason: "lock file \(lockPath) keeps being replaced")
    }

    /// Unlinks the lock file while still holding the lock (a process waiting on the old file then sees that the
    /// path no longer names it and starts over), then closes it.
    private static func releaseLock(_ fd: Int32, path lockPath: String) {
        unlink(lockPath)
        close(fd)
    }

    // MARK: The socket

    private static func isSocket(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }

    /// A socket at `path` is stale when connecting to it is refused (nobody listens). One that accepts, or has
    /// its backlog full (EAGAIN: the probe is non-blocking so a busy server cannot stall this start), is in use;
    /// any other answer (a socket of another user: EACCES) is not ours to remove.
    private static func checkStale(_ path: String) throws(ControlServerError) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                            | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .socketFailed(path: path, reason: "socket: " + errnoText(errno)) }
        defer { close(fd) }
        let rc = UnixSocketAddress.with(path) { connect(fd, $0, $1) }
        let code = errno
        if rc == 0 || code == EAGAIN { throw .socketInUse(path: path) }
        guard code == ECONNREFUSED || code == ENOENT else {
            throw .socketFailed(path: path, reason: "a socket is there and probing it failed (\(errnoText(code))); "
                + "remove it if it is stale")
        }
    }

    private static func bindAndListen(_ path: String, uid: uid_t) throws(ControlServerError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                            | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .socketFailed(path: path, reason: "socket: " + errnoText(errno)) }
        let bound = UnixSocketAddress.with(path) { bind(fd, $0, $1) }
        guard bound == 0 else {
            let code = errno
            close(fd)
            // Something that takes no lock made a socket there in the meantime.
            if code == EADDRINUSE { throw .socketInUse(path: path) }
            throw .socketFailed(path: path, reason: "bind: " + errnoText(code))
        }
        do throws(ControlServerError) {
            try SocketSecurity.protectSocket(path: path, uid: uid)
            guard listen(fd, backlog) == 0 else {
                throw .socketFailed(path: path, reason: "listen: " + errnoText(errno))
            }
        } catch {
            close(fd)
            unlink(path)  // bound by this process a moment ago, under the lock
            throw error
        }
        return fd
    }

    private static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
