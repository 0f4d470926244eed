import Glibc

/// How EMT 0 waits between the passes of a PDM walk whose devices or drivers went async: it parks on its own
/// semaphore and, while waiting, serves priority requests (global and EMT 0's), so a plugin thread that needs an
/// EMT during a suspend/power-off/reset does not deadlock. `wake()` (from `asyncNotificationCompleted`, any
/// thread) ends the wait.
public final class EMTWalkWaiter: @unchecked Sendable {
    let emt: EmulationThread
    let group: EMTGroup

    init(emt: EmulationThread, group: EMTGroup) {
        self.emt = emt
        self.group = group
    }

    /// Blocks until `wake()` was called (since the last wait returned) or `deadlineNanoseconds` (monotonic clock,
    /// nil: none) passed. Returns true if woken, false on timeout. On EMT 0 only.
    @discardableResult
    public func wait(untilNanoseconds deadlineNanoseconds: UInt64?) -> Bool {
        while true {
            if emt.flags.testAndClear(.walkWakeup) { return true }
            if group.requests.hasPending(for: emt, priorityOnly: true) {
                group.requests.process(on: emt, priorityOnly: true)
                continue
            }
            var timeout: UInt64?
            if let deadlineNanoseconds {
                let now = Self.monotonicNanoseconds()
                guard now < deadlineNanoseconds else { return false }
                timeout = deadlineNanoseconds - now
            }
            emt.park(timeoutNanoseconds: timeout) {
                emt.flags.isAnySet(.walkWakeup) || group.requests.hasPending(for: emt, priorityOnly: true)
            }
        }
    }

    /// Ends a current or the next `wait`. Any thread.
    public func wake() {
        emt.flags.set(.walkWakeup)
        emt.notify()
    }

    /// CLOCK_MONOTONIC in nanoseconds (the clock of `wait`'s deadline).
    public static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
