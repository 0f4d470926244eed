import Glibc

/// How the walking thread (EMT 0) waits between passes of a suspend, reset or power-off walk while instances are
/// asynchronous. The VMM's waiter also serves priority requests while it waits; the default is a condition
/// variable (`ConditionWalkWaiter`).
///
/// Contract: `wake()` may be called from any thread at any time; a `wake()` that happens before `wait` is entered
/// must make that `wait` return true at once (no lost wake-ups). Spurious wake-ups are harmless.
public protocol WalkWaiter: AnyObject, Sendable {
    /// Blocks until `wake()` has been called since the previous `wait` returned true, or until `deadline`.
    /// Returns true when woken, false when the deadline passed.
    func wait(until deadline: ContinuousClock.Instant) -> Bool
    /// Wakes the waiting walker (or makes its next `wait` return at once).
    func wake()
}

/// The default `WalkWaiter`: a pthread condition variable (CLOCK_MONOTONIC) with a sticky "woken" flag.
public final class ConditionWalkWaiter: WalkWaiter, @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var woken = false

    public init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func wait(until deadline: ContinuousClock.Instant) -> Bool {
        let remaining = ContinuousClock.now.duration(to: deadline)
        let remainingNs = remaining <= .zero ? 0 : UInt64(remaining.components.seconds) * 1_000_000_000
            + UInt64(remaining.components.attoseconds / 1_000_000_000)
        let target = monotonicNanoseconds() &+ remainingNs
        var ts = timespec(tv_sec: Int(target / 1_000_000_000), tv_nsec: Int(target % 1_000_000_000))
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !woken {
            if pthread_cond_timedwait(condition, mutex, &ts) == ETIMEDOUT { break }
        }
        let result = woken
        woken = false
        return result
    }

    public func wake() {
        pthread_mutex_lock(mutex)
        woken = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }
}
