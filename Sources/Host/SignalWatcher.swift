#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGINT/SIGTERM into a callback on a thread of its own (sigwait), so a Ctrl-C powers the VM off cleanly
/// instead of killing the process mid-write. Call `blockInProcess()` before any other thread is created, so that
/// every thread inherits the blocked mask and only the watcher receives these signals.
enum SignalWatcher {
    static func blockInProcess() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    private final class Context {
        let handler: @Sendable (Int32) -> Void
        init(_ handler: @escaping @Sendable (Int32) -> Void) { self.handler = handler }
    }

    /// Starts the watcher thread; `handler` runs on it for every SIGINT/SIGTERM.
    static func start(_ handler: @escaping @Sendable (Int32) -> Void) {
        let context = Unmanaged.passRetained(Context(handler)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let context = Unmanaged<Context>.fromOpaque(raw).takeUnretainedValue()
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGINT)
            sigaddset(&set, SIGTERM)
            while true {
                var signal: Int32 = 0
                if sigwait(&set, &signal) == 0 { context.handler(signal) }
            }
        }, context)
        if rc == 0 { pthread_detach(thread) }
    }
}
