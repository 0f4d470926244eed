import NIOCore
import NIOPosix

/// Runs the blocking VM operations (pause, resume, reset, power-off) one at a time on a dedicated thread,
/// never on an event loop: each operation blocks until its EMT rendezvous is over. One thread means the API's
/// state-changing requests are serialised in arrival order, so each answer describes the state that request
/// left (a pause queued behind a pause answers "already suspended").
final class VMOperationRunner: Sendable {
    private let pool: NIOThreadPool

    init() {
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
    }

    /// Runs `work` on the operation thread; the future completes on `eventLoop`.
    func run<T: Sendable>(on eventLoop: any EventLoop, _ work: @escaping @Sendable () throws -> T)
        -> EventLoopFuture<T> {
        pool.runIfActive(eventLoop: eventLoop, work)
    }

    /// Sets the operation thread's scheduling (runs as its first work item).
    func applyPriority(_ priority: ControlThreadPriority) {
        pool.submit { _ in _ = priority.apply() }
    }

    /// Waits for the running operation and stops the thread.
    func shutdown() {
        try? pool.syncShutdownGracefully()
    }
}
