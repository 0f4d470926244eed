import Glibc

/// The scheduling of the threads the VMM creates (EMTs, the device timer thread): always the process's ordinary
/// policy, whatever thread happened to create them.
///
/// A POSIX thread inherits its creator's policy and nice value. A VM built from a real-time thread (say, the
/// control API's SCHED_FIFO operation thread, or a worker that inherited SCHED_FIFO from one) would otherwise run
/// its vCPUs SCHED_FIFO, and a vCPU busy in the guest at real-time priority never yields: on a small host it
/// starves every normal thread and every real-time thread of equal priority, for as long as the guest runs.
enum ThreadScheduling {
    /// Puts the calling thread back to SCHED_OTHER with the process's nice value (that of its main thread).
    /// Lowering a priority needs no privilege; a nice value the thread may not take is left as it is.
    static func adoptProcessDefault() {
        var policy: Int32 = 0
        var param = sched_param()
        if pthread_getschedparam(pthread_self(), &policy, &param) == 0, policy != SCHED_OTHER {
            param.sched_priority = 0
            pthread_setschedparam(pthread_self(), SCHED_OTHER, &param)
        }
        errno = 0
        let processNice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(getpid()))
        guard errno == 0 else { return }
        // On Linux, PRIO_PROCESS with who 0 is the calling thread.
        if getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) != processNice {
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, processNice)
        }
    }
}
