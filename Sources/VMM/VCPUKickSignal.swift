import Glibc
import Synchronization

private func vcpuKickSignalHandler(_ signal: Int32) {}

/// The signal that kicks an EMT out of `KVM_RUN`: an empty handler installed without `SA_RESTART`, so the
/// blocking `KVM_RUN` returns `EINTR`. Installed once per process by the first EMT.
enum VCPUKickSignal {
    /// The signal number (`SIGRTMIN + 3`; the first realtime signals are often taken by libraries).
    static let number: Int32 = __libc_current_sigrtmin() + 3

    private static let installed = Atomic<Bool>(false)

    /// Installs the handler (idempotent, any thread).
    static func install() {
        guard !installed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = vcpuKickSignalHandler
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: KVM_RUN must return EINTR
        sigaction(number, &action, nil)
    }

    /// Unblocks the kick signal on the calling thread (threads created from libdispatch or Swift-concurrency
    /// workers inherit a mask that blocks it).
    static func unblockOnCurrentThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, number)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
