import Glibc

/// The file-system half of the control socket's protection: the directory must belong to the user and be
/// writable by nobody else; the socket itself gets mode 0600. (The other half, the peer-uid check of every
/// connection, is in `ControlServer`.)
enum SocketSecurity {
    /// The directory part of `path` (`.` for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// Refuses a path that is too long, a directory that is missing, foreign or writable by others, and a
    /// non-socket already at the path.
    static func checkBeforeBind(path: String, uid: uid_t) throws(ControlServerError) {
        let maximum = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
        guard path.utf8.count <= maximum, !path.isEmpty else {
            throw .socketPathTooLong(path: path, maximum: maximum)
        }
        let dir = directory(of: path)
        var st = stat()
        guard stat(dir, &st) == 0 else {
            throw .directoryUnusable(directory: dir, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw .directoryUnusable(directory: dir, reason: "not a directory")
        }
        guard st.st_uid == uid else {
            throw .directoryNotOwned(directory: dir, ownerUID: st.st_uid, userUID: uid)
        }
        guard st.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            throw .directoryWritableByOthers(directory: dir, mode: st.st_mode & 0o7777)
        }
        var existing = stat()
        if lstat(path, &existing) == 0, (existing.st_mode & S_IFMT) != S_IFSOCK {
            throw .pathOccupied(path: path)
        }
    }

    /// Sets the socket's mode to 0600 and checks it took (owner = uid).
    static func protectSocket(path: String, uid: uid_t) throws(ControlServerError) {
        guard chmod(path, 0o600) == 0 else {
            throw .socketFailed(path: path, reason: "chmod 600: " + String(cString: strerror(errno)))
        }
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK, st.st_mode & 0o777 == 0o600,
              st.st_uid == uid else {
            throw .socketFailed(path: path, reason: "the socket is not a mode-600 socket owned by uid \(uid)")
        }
    }
}
