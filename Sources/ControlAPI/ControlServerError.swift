/// Why the control API server refused to start.
public enum ControlServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The socket path does not fit in `sockaddr_un.sun_path`.
    case socketPathTooLong(path: String, maximum: Int)
    /// The directory the socket would live in does not exist or cannot be examined.
    case directoryUnusable(directory: String, reason: String)
    /// The directory is not owned by the user running the VM.
    case directoryNotOwned(directory: String, ownerUID: UInt32, userUID: UInt32)
    /// Group or others may write into the directory (they could replace the socket).
    case directoryWritableByOthers(directory: String, mode: UInt32)
    /// Something that is not a socket already exists at the path.
    case pathOccupied(path: String)
    /// A server (another VM process, most likely) is accepting connections on the socket at the path.
    case socketInUse(path: String)
    /// Creating, binding or protecting the socket failed, or the event loop could not take it.
    case socketFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .socketPathTooLong(path, maximum):
            return "--api-socket \(path): the path is longer than \(maximum) bytes"
        case let .directoryUnusable(directory, reason):
            return "--api-socket: directory \(directory) is unusable: \(reason)"
        case let .directoryNotOwned(directory, owner, user):
            return "--api-socket: directory \(directory) is owned by uid \(owner), not by this user (uid \(user));"
                + " put the socket in a directory you own"
        case let .directoryWritableByOthers(directory, mode):
            return "--api-socket: directory \(directory) (mode \(String(mode, radix: 8))) is writable by group or"
                + " others; use a directory only you can write (e.g. mode 700)"
        case let .pathOccupied(path):
            return "--api-socket \(path): something that is not a socket exists there; refusing to replace it"
        case let .socketInUse(path):
            return "--api-socket \(path): another process is serving on this socket; stop it or choose another path"
        case let .socketFailed(path, reason):
            return "--api-socket \(path): \(reason)"
        }
    }
}
