import KVM

/// Runs one vCPU of a `Machine`: one `KVM_RUN` per `runOnce()`, the exit handled through the machine's
/// `ExitDispatcher`. Belongs to the vCPU's EMT; only `requestImmediateExit()` may be called from other threads.
public final class VCPURunner: @unchecked Sendable {
    /// The machine (kept alive by the runner).
    public let machine: Machine
    /// Index of the vCPU in `machine.vcpus` (also its KVM and APIC id).
    public let index: Int
    /// The vCPU.
    public let vcpu: KVMVCPU
    private let run: KVMRun
    private let dispatcher: ExitDispatcher
    private let requests: MachineRequests

    init(machine: Machine, index: Int) {
        self.machine = machine
        self.index = index
        self.vcpu = machine.vcpus[index]
        self.run = vcpu.runState
        self.dispatcher = machine.dispatcher
        self.requests = machine.pendingRequests
    }

    /// Enters the guest once and handles the exit. Allocation-free for I/O, MMIO and `EINTR`.
    public func runOnce() -> VCPUExitOutcome {
        let status: KVMRunStatus
        do {
            status = try vcpu.run()
        } catch {
            return .internalError(reason: error.description, registers: vcpu.registerDump())
        }
        if status == .interrupted { return .interrupted }

        switch run.exitReason {
        case .io:
            dispatcher.dispatch(run.io)
            return requests.hasPending ? takeRequest() : .continue
        case .mmio:
            dispatcher.dispatch(run.mmio)
            return requests.hasPending ? takeRequest() : .continue
        case .hlt:
            return .halted
        case .intr:
            return .interrupted
        case .irqWindowOpen:
            return .continue
        case .shutdown:
            return .shutdown(reason: "vCPU \(index): guest shutdown (triple fault)", registers: vcpu.registerDump())
        case .systemEvent:
            let type = run.systemEventType
            let what: String
            switch type {
            case 1: what = "shutdown"
            case 2: what = "reset"
            case 3: what = "crash"
            default: what = "event \(type)"
            }
            return .shutdown(reason: "vCPU \(index): system event \(what)", registers: vcpu.registerDump())
        case .internalError:
            return .internalError(reason: "vCPU \(index): KVM \(run.internalError)", registers: vcpu.registerDump())
        case .failEntry:
            let r = run.failEntryReason
            return .failEntry(reason: "vCPU \(index): VM entry failed, hardware reason 0x\(String(r, radix: 16)) "
                + "on host CPU \(run.failEntryCPU)", registers: vcpu.registerDump())
        case .exception:
            let e = run.exception
            return .internalError(reason: "vCPU \(index): unhandled exception \(e.vector) error code \(e.errorCode)",
                                  registers: vcpu.registerDump())
        default:
            return .internalError(reason: "vCPU \(index): unexpected KVM exit \(run.exitReason) "
                + "(hardware reason 0x\(String(run.hardwareExitReason, radix: 16)))", registers: vcpu.registerDump())
        }
    }

    private func takeRequest() -> VCPUExitOutcome {
        if let status = requests.takePowerOff() { return .powerOffRequested(exitStatus: status) }
        if let reason = requests.takeSuspend() { return .suspendRequested(reason: reason) }
        return .continue
    }

    /// Makes the current or next `KVM_RUN` return `EINTR` at once (any thread; pair it with the kick signal).
    @inline(__always)
    public func requestImmediateExit() { run.immediateExit = true }

    /// Clears the immediate-exit request (on the EMT, after `runOnce` returned).
    @inline(__always)
    public func clearImmediateExit() { run.immediateExit = false }

    /// Puts this vCPU into its power-on state (BSP at the PVH entry, AP waiting for SIPI).
    public func resetToPowerOnState() throws(MachineError) { try machine.resetVCPU(index) }

    /// Registers as text for the guru-meditation log.
    public func registerDump() -> String { vcpu.registerDump() }
}
