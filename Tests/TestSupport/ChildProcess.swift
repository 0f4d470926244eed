import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process for tests: spawned with `posix_spawnp`, standard output and error captured in temporary
/// files (never pipes), nothing else inherited, and a bounded wait that kills a child that overstays.
///
/// Why not `Foundation.Process` with pipes: a test reading a pipe to its end blocks until *every* copy of the
/// write end is closed, and in a test process that spawns children from many threads at once, a copy can leak
/// into an unrelated child (or a `fork`ed one). On a 2-core machine two such readers occupy the whole
/// cooperative pool and the test run hangs. Files have no end-of-file dependency, and every wait here has a
/// deadline.
public final class ChildProcess: @unchecked Sendable {
    /// What a finished (or killed) child did.
    public struct Outcome: CustomStringConvertible, Sendable {
        /// Exit status, or `128 + signal` if a signal ended it.
        public let status: Int32
        /// The signal that ended the child, if one did.
        public let signal: Int32?
        public let output: String
        public let errors: String
        /// The child was still running at the deadline and was killed.
        public let timedOut: Bool
        /// The child's peak resident set size in KiB (`ru_maxrss` from `wait4`).
        public let peakRSSKiB: Int

        public var succeeded: Bool { status == 0 && !timedOut }
        public var description: String {
            "exit \(status)\(timedOut ? " (killed at the deadline)" : "")\nstdout:\n\(output)\nstderr:\n\(errors)"
        }
    }

    public struct SpawnFailure: Error, CustomStringConvertible {
        public let description: String
    }

    public let pid: pid_t
    public let arguments: [String]
    private let outputPath: String
    private let errorPath: String
    private var finished: Outcome?

    /// Starts `arguments` (the first is looked up on `PATH` unless it contains a `/`) in `directory`, with
    /// `input` (or nothing: `/dev/null`) on standard input. `standardOutput`: a descriptor of the caller's to
    /// hand the child as its standard output (e.g. a pipe's write end, for a benchmark that times the first
    /// byte) instead of the capture file.
    public init(_ arguments: [String], in directory: String? = nil, input: String? = nil,
                standardOutput: Int32? = nil) throws {
        guard let program = arguments.first else { throw SpawnFailure(description: "no program to run") }
        self.arguments = arguments
        let base = FileManager.default.temporaryDirectory.path + "/vmhost-child-\(getpid())-\(UUID().uuidString.prefix(8))"
        outputPath = base + ".out"
        errorPath = base + ".err"
        let inputPath = input == nil ? "/dev/null" : base + ".in"
        if let input { try Data(input.utf8).write(to: URL(fileURLWithPath: inputPath)) }
        defer { if input != nil { unlink(inputPath) } }

        let inputFD = open(inputPath, O_RDONLY | O_CLOEXEC)
        let outputFD = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let errorFD = open(errorPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { for fd in [inputFD, outputFD, errorFD] where fd >= 0 { close(fd) } }
        guard inputFD >= 0, outputFD >= 0, errorFD >= 0 else {
            throw SpawnFailure(description: "cannot create capture files at \(base): errno \(errno)")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inputFD, 0)
        posix_spawn_file_actions_adddup2(&actions, standardOutput ?? outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errorFD, 2)
        // The child gets 0, 1 and 2 and nothing else, whatever other threads have open right now.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        if let directory {
            guard let addChdir = Self.addChdir else {
                throw SpawnFailure(description: "posix_spawn_file_actions_addchdir_np is not available")
            }
            _ = directory.withCString { addChdir(&actions, $0) }
        }

        // The child starts SCHED_OTHER whatever the spawning thread runs at (a benchmark's real-time client must
        // not hand its policy to the process it measures). Lowering needs no privilege.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var normal = sched_param()
        normal.sched_priority = 0
        posix_spawnattr_setschedpolicy(&attributes, SCHED_OTHER)
        posix_spawnattr_setschedparam(&attributes, &normal)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSCHEDULER))

        var childPID: pid_t = 0
        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        let rc = posix_spawnp(&childPID, program, &actions, &attributes, cArguments, environ)
        guard rc == 0 else {
            unlink(outputPath)
            unlink(errorPath)
            throw SpawnFailure(description: "cannot start \(program): \(String(cString: strerror(rc)))")
        }
        pid = childPID
    }

    deinit {
        if finished == nil { _ = wait(timeout: 0) }
        unlink(outputPath)
        unlink(errorPath)
    }

    /// Runs `arguments` to the end (at most `timeout` seconds, then it is killed) and returns what it did.
    public static func run(_ arguments: [String], in directory: String? = nil, input: String? = nil,
                           timeout: Double = 300) throws -> Outcome {
        try ChildProcess(arguments, in: directory, input: input).wait(timeout: timeout)
    }

    /// Sends `signal` to the child if it has not been waited for.
    public func send(_ signal: Int32) {
        if finished == nil { kill(pid, signal) }
    }

    /// False once the child has ended (it is then reaped and its outcome kept for `wait`).
    public var isRunning: Bool {
        if finished != nil { return false }
        var status: Int32 = 0
        var usage = rusage()
        guard wait4(pid, &status, WNOHANG, &usage) == pid else { return true }
        finished = outcome(status: status, timedOut: false, usage: usage)
        return false
    }

    /// What the child has written to standard output so far.
    public var outputSoFar: String { Self.read(outputPath) }

    /// Waits for the child to end; a child still running after `timeout` seconds is killed (SIGKILL) and reaped.
    @discardableResult
    public func wait(timeout: Double = 300) -> Outcome {
        if let finished { return finished }
        let deadline = Self.now() + timeout
        var status: Int32 = 0
        var timedOut = false
        var usage = rusage()
        var pause: UInt32 = 200  // µs, doubling to 20 ms
        while true {
            let rc = wait4(pid, &status, WNOHANG, &usage)
            if rc == pid || (rc < 0 && errno != EINTR) { break }
            if Self.now() >= deadline {
                timedOut = true
                kill(pid, SIGKILL)
                while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
                break
            }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
        let result = outcome(status: status, timedOut: timedOut, usage: usage)
        finished = result
        return result
    }

    /// `waitpid`'s status as an `Outcome`, with what the child wrote.
    private func outcome(status: Int32, timedOut: Bool, usage: rusage) -> Outcome {
        let signalled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
        return Outcome(status: signalled ? 128 + (status & 0x7f) : (status >> 8) & 0xff,
                       signal: signalled ? status & 0x7f : nil,
                       output: Self.read(outputPath), errors: Self.read(errorPath), timedOut: timedOut,
                       peakRSSKiB: usage.ru_maxrss)
    }

    private static func read(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    private static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    private typealias FileActionFD = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    private typealias FileActionPath = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?,
                                                       UnsafePointer<CChar>?) -> Int32

    // glibc ≥ 2.34 / 2.29 extensions that Swift's Glibc module does not import.
    private static let addCloseFrom: FileActionFD? = symbol("posix_spawn_file_actions_addclosefrom_np")
    private static let addChdir: FileActionPath? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<T>(_ name: String) -> T? {
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }
}
