import Glibc

/// How the control API's own threads (the event loop and the operation thread) are scheduled.
///
/// A pause arrives while every vCPU thread is busy in the guest, so each hop on the way to the EMTs (socket →
/// event loop → operation thread) waits for the scheduler to preempt a vCPU. `.realtime` makes those two
/// mostly-idle threads SCHED_FIFO (priority 1) so they run as soon as they wake; without the privilege it falls
/// back to nice -10, else stays normal. They only ever do short work and block, so they cannot starve the vCPUs.
///
/// `vmhost run` asks for `.realtime`; the library default is `.normal`, because a thread inherits its creator's
/// policy: a process that embeds the server and creates threads from these two (a Swift-concurrency worker
/// spawned while one of them resumes a continuation, say) would get real-time threads it never asked for. The
/// VMM's own threads (EMTs, the device timer thread) drop any inherited real-time policy when they start.
public enum ControlThreadPriority: Sendable, Equatable {
    /// Leave the threads as they are.
    case normal
    /// SCHED_FIFO 1 if allowed, else nice -10, else normal.
    case realtime

    /// Applies the priority to the calling thread; returns what it got (for the log).
    @discardableResult
    func apply() -> String {
        guard self == .realtime else { return "normal" }
        var param = sched_param()
        param.sched_priority = 1
        if pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0 { return "SCHED_FIFO 1" }
        // On Linux, PRIO_PROCESS with who 0 is the calling thread.
        if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, -10) == 0 { return "nice -10" }
        return "normal (no privilege)"
    }
}
