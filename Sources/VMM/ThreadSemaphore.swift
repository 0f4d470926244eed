import CKVM
import Glibc

/// A counting semaphore for pthreads (POSIX `sem_t`): the blocking primitive of EMTs and of requesters.
///
/// Waits retry after `EINTR`, because an EMT's kick signal is installed without `SA_RESTART` and may land
/// while the thread waits here.
final class ThreadSemaphore: @unchecked Sendable {
    private let sem: UnsafeMutablePointer<sem_t>

    init(initialValue: UInt32 = 0) {
        sem = .allocate(capacity: 1)
        sem_init(sem, 0, initialValue)
    }

    deinit {
        sem_destroy(sem)
        sem.deallocate()
    }

    /// Adds one to the count, waking one waiter.
    func post() {
        sem_post(sem)
    }

    /// Blocks until the count is positive, then takes one.
    func wait() {
        while sem_wait(sem) != 0 {
            if errno != EINTR { return }
        }
    }

    /// Takes one if the count is positive, without blocking.
    func tryWait() -> Bool {
        sem_trywait(sem) == 0
    }

    /// Blocks for at most `nanoseconds` (CLOCK_MONOTONIC: a wall-clock step changes nothing); true if one was
    /// taken, false on timeout.
    func wait(timeoutNanoseconds nanoseconds: UInt64) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let total = UInt64(deadline.tv_nsec) + nanoseconds % 1_000_000_000
        deadline.tv_sec += Int(nanoseconds / 1_000_000_000) + Int(total / 1_000_000_000)
        deadline.tv_nsec = Int(total % 1_000_000_000)
        while ckvm_sem_wait_monotonic(sem, &deadline) != 0 {
            if errno == ETIMEDOUT { return false }
            if errno != EINTR { return false }
        }
        return true
    }
}
