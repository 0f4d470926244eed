/// The credentials of a Unix-socket peer as `getsockopt(SOL_SOCKET, SO_PEERCRED)` returns them: Linux
/// `struct ucred` (pid, uid, gid; three 32-bit fields), which Swift's Glibc module does not export.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
