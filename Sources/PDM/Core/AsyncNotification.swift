import CVMHostABI

extension PDMCore {
    /// `asyncNotificationCompleted` from a plugin, any thread: wakes the walker for another pass if a walk is
    /// running; ignored otherwise.
    func asyncNotificationCompleted() {
        let waiter: (any WalkWaiter)? = walkShared.withLock { $0.active ? $0.waiter : nil }
        waiter?.wake()
    }

    func beginWalk(waiter: any WalkWaiter) {
        walkShared.withLock {
            $0.active = true
            $0.waiter = waiter
        }
    }

    func endWalk() {
        walkShared.withLock {
            $0.active = false
            $0.waiter = nil
        }
    }
}

/// When progress lines are due: on the first pending pass, then ≈1, 2, 4, 8, 16, 32 and 60 s after the walk
/// started, then every 60 s.
struct ProgressSchedule {
    private(set) var nextMilliseconds: Int64 = 0

    /// True (and advances the schedule) when a line is due at `elapsed` ms.
    mutating func due(at elapsed: Int64) -> Bool {
        guard elapsed >= nextMilliseconds else { return false }
        while nextMilliseconds <= elapsed {
            if nextMilliseconds == 0 {
                nextMilliseconds = 1000
            } else if nextMilliseconds < 60_000 {
                nextMilliseconds = min(nextMilliseconds * 2, 60_000)
            } else {
                nextMilliseconds += 60_000
            }
        }
        return true
    }
}
