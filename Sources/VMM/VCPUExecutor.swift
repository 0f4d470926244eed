/// What one guest run of a vCPU ended with (the machine half's `runOnce()` outcome, as the EMT loop sees it).
public enum VCPURunResult: Sendable, Equatable {
    /// An exit was handled; run again.
    case `continue`
    /// The guest executed HLT and KVM returned to user space (only without an in-kernel irqchip).
    case halted
    /// `KVM_RUN` returned because of a kick (EINTR / immediate exit): look at the force-action flags.
    case interrupted
    /// The guest shut the machine down (triple fault): guru meditation, with a register dump.
    case shutdown(reason: String, registers: String)
    /// KVM or exit dispatch failed (emulation failure, unknown exit): guru meditation with a register dump.
    case internalError(reason: String, registers: String)
    /// A device asked for power-off during this exit (DebugExit). The request has already reached the VM
    /// (`VirtualMachine.requestPowerOff(exitStatus:)`, queued to an EMT); the EMT just goes on.
    case powerOffRequested
    /// A device asked for a suspend during this exit; like `powerOffRequested`, already forwarded.
    case suspendRequested
}

/// One vCPU as the EMT drives it. The machine half implements it over `KVMVCPU` + exit dispatch; tests of pure
/// threading logic may implement it with a fake.
///
/// Threads: `runOnce`, `clearImmediateExit`, `resetToPowerOnState` and `registerDump` are called only on the vCPU's
/// own EMT; `requestImmediateExit` from any thread (it only stores to `kvm_run.immediate_exit`).
public protocol VCPUExecutor: AnyObject, Sendable {
    /// Enters the guest once (`KVM_RUN`) and handles the exit.
    func runOnce() -> VCPURunResult
    /// Makes a current or the next `runOnce` return at once (`kvm_run.immediate_exit = 1`). The EMT also sends
    /// its kick signal so a vCPU already inside `KVM_RUN` leaves it.
    func requestImmediateExit()
    /// Clears the immediate-exit request (called by the EMT after `runOnce` returned, before it re-checks its
    /// force-action flags).
    func clearImmediateExit()
    /// Puts the vCPU into its power-on state (registers, and for APs the wait-for-SIPI MP state). Called on the
    /// vCPU's EMT during a VM reset, after the PDM reset walk and `VMMachineControl.resetMachine()`.
    func resetToPowerOnState() throws(VMError)
    /// Registers as text, for the guru-meditation log.
    func registerDump() -> String
}
