import Glibc

/// A `vmhost` started with `posix_spawn`, for start-up timings: nothing runs between the clock read and the
/// exec but the spawn itself (Foundation's `Process` first starts a run-loop thread and adds a close action for
/// every open descriptor, which costs the measurement milliseconds). Standard output goes to `stdoutFD` (or
/// /dev/null); every other descriptor of the benchmark is closed in the child.
final class SpawnedProcess {
    let pid: pid_t
    private var status: Int32?

    struct Failure: Error, CustomStringConvertible { let description: String }

    init(_ executable: String, _ arguments: [String], stdoutFD: Int32? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdoutFD {
            posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw Failure(description: "cannot start \(executable): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// False once the child has exited (it is then reaped).
    var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return true }
        status = raw
        return false
    }

    /// The exit status (or 128 + signal), waiting for the child.
    @discardableResult
    func wait() -> Int32 {
        if status == nil {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            status = raw
        }
        let raw = status ?? 0
        return (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    }

    func terminate() {
        if status == nil { kill(pid, SIGTERM) }
    }

    private typealias FileActionFD = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    // glibc ≥ 2.34; not imported by Swift's Glibc module.
    private static let addCloseFrom: FileActionFD? = {
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(address, to: FileActionFD.self)
    }()
}
