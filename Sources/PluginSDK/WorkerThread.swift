#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A joinable plugin thread, for a driver's or device's own I/O thread: start it in `init` (or later), stop it
/// (the plugin's own flag and a wake-up) and ``join()`` it in `destruct`. Like ``PluginThread``, the thread may only
/// call ``AsyncCompletion/complete()``, the interfaces of its own chain and the plugin's own code.
public final class WorkerThread: @unchecked Sendable {
    private var thread: pthread_t
    private var joined = false

    private init(thread: pthread_t) {
        self.thread = thread
    }

    /// Starts `body` on a new thread; `name` appears in error messages.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(PluginError)
        -> WorkerThread
    {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
            box.body()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            throw PluginError(.noMemory, "creating the thread '\(name)' failed (errno \(status))")
        }
        return WorkerThread(thread: thread)
    }

    /// Waits for the thread's body to return (once; later calls return at once). Never call it on the thread
    /// itself.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    /// True when called on this thread.
    public var isCurrent: Bool { pthread_equal(thread, pthread_self()) != 0 }
}

/// A mutex with a condition variable (pthread, CLOCK_MONOTONIC), for producer/consumer hand-offs between a
/// plugin's callbacks and its worker threads: `lock.withLock { queue.append(x); lock.signal() }` on one side,
/// `lock.withLock { while queue.isEmpty { lock.wait() } … }` on the other.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// An unlocked mutex and its condition variable (waits measured on `CLOCK_MONOTONIC`).
    public init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the mutex held.
    @inline(__always)
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Inside `withLock`: releases the mutex until signalled (spurious wake-ups happen: re-check the condition).
    public func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// Inside `withLock`: waits at most `nanoseconds`; false when the time ran out.
    @discardableResult
    public func wait(nanoseconds: UInt64) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = UInt64(now.tv_nsec) + nanoseconds % 1_000_000_000
        var deadline = timespec(tv_sec: now.tv_sec + Int(nanoseconds / 1_000_000_000) + Int(total / 1_000_000_000),
                                tv_nsec: Int(total % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }

    /// Wakes one waiter (call with or without the mutex).
    public func signal() {
        pthread_cond_signal(condition)
    }

    /// Wakes every waiter.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
