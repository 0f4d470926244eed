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

    /// Blocks until `wake()` was called (since the last wait returned true) or `deadline` passed. Returns true
    /// if woken, false on timeout. On EMT 0 only (the PDM walk's thread).
    @discardableResult
    public func wait(until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            if emt.flags.testAndClear(.walkWakeup) { return true }
            if group.requests.hasPending(for: emt, priorityOnly: true) {
                group.requests.process(on: emt, priorityOnly: true)
                continue
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            let (seconds, attoseconds) = remaining.components
            let timeout = seconds >= 3600 ? UInt64(3600 * 1_000_000_000)
                : UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
            emt.park(timeoutNanoseconds: max(timeout, 1)) {
                emt.flags.isAnySet(.walkWakeup) || group.requests.hasPending(for: emt, priorityOnly: true)
            }
        }
    }

    /// Ends a current or the next `wait`. Any thread.
    public func wake() {
        emt.flags.set(.walkWakeup)
        emt.notify()
    }
}
