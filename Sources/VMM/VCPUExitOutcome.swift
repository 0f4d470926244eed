/// What one `VCPURunner.runOnce()` ended with; the EMT loop acts on it.
public enum VCPUExitOutcome: Sendable, Equatable {
    /// An exit was handled (I/O, MMIO, or an exit needing nothing); run again.
    case `continue`
    /// The guest executed HLT and KVM returned to user space (not seen with the in-kernel irqchip).
    case halted
    /// `KVM_RUN` returned `EINTR` (a kick signal or `immediate_exit`): look at the force-action flags.
    case interrupted
    /// The guest triple-faulted (`KVM_EXIT_SHUTDOWN`) or KVM reported a shutdown/reset/crash system event.
    /// `registers` is the register dump for the guru-meditation log.
    case shutdown(reason: String, registers: String)
    /// `KVM_EXIT_INTERNAL_ERROR` (e.g. an emulation failure), an unknown exit, or a failed `KVM_RUN`.
    case internalError(reason: String, registers: String)
    /// `KVM_EXIT_FAIL_ENTRY`: the hardware refused to enter the guest.
    case failEntry(reason: String, registers: String)
    /// A device asked for power-off while this exit was handled (DebugExit): the process exit status.
    case powerOffRequested(exitStatus: Int32)
    /// A device asked for a suspend while this exit was handled (`VMH_SUSPEND_REASON_*`).
    case suspendRequested(reason: Int32)
}
