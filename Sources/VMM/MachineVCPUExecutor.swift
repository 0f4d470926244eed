/// Adapts a `VCPURunner` to the EMT loop's `VCPUExecutor`: maps the machine's `VCPUExitOutcome` to the
/// `VCPURunResult` the EMT acts on. Device power-off and suspend requests reach the `VirtualMachine` through
/// `Machine.connect(to:)` at request time, so here they only end the run.
public final class MachineVCPUExecutor: VCPUExecutor, @unchecked Sendable {
    /// The runner doing the work.
    public let runner: VCPURunner

    public init(runner: VCPURunner) { self.runner = runner }

    @inline(__always)
    public func runOnce() -> VCPURunResult {
        BootTimeline.process.mark(.firstKVMRun)  // one relaxed load once recorded
        switch runner.runOnce() {
        case .continue: return .continue
        case .halted: return .halted
        case .interrupted: return .interrupted
        case .shutdown(let reason, let registers): return .shutdown(reason: reason, registers: registers)
        case .internalError(let reason, let registers): return .internalError(reason: reason, registers: registers)
        case .failEntry(let reason, let registers): return .internalError(reason: reason, registers: registers)
        case .powerOffRequested: return .powerOffRequested
        case .suspendRequested: return .suspendRequested
        }
    }

    public func requestImmediateExit() { runner.requestImmediateExit() }

    public func clearImmediateExit() { runner.clearImmediateExit() }

    public func resetToPowerOnState() throws(VMError) {
        do {
            try runner.resetToPowerOnState()
        } catch {
            throw .machineFailed(operation: "reset of vCPU \(runner.index)", message: error.description)
        }
    }

    public func registerDump() -> String { runner.registerDump() }
}

/// The machine-wide part of a VM reset (`VMMachineControl`): interrupt controllers and PIT to their power-on
/// state, kernel image and boot data reloaded (`Machine.resetPlatform()`).
public final class MachineResetControl: VMMachineControl, @unchecked Sendable {
    public let machine: Machine

    public init(machine: Machine) { self.machine = machine }

    public func resetMachine() throws(VMError) {
        do {
            try machine.resetPlatform()
        } catch {
            throw .machineFailed(operation: "reset", message: error.description)
        }
    }
}

extension Machine {
    /// One `VCPUExecutor` per vCPU, in vCPU order, for `VirtualMachine(vcpus:devices:machine:)`.
    public func makeExecutors() -> [MachineVCPUExecutor] {
        vcpus.indices.compactMap { runner(forVCPU: $0) }.map(MachineVCPUExecutor.init(runner:))
    }

    /// Forwards device power-off and suspend requests to `vm` (held weakly) as they are made, and keeps the
    /// device clock standing still while `vm` is suspended: from SUSPENDED (after the suspend walk, so async
    /// suspend work may still use timers) through RESUMING (devices' resume callbacks run before any timer fires)
    /// until RUNNING, or until a reset or power-off begins (their walks may wait on timers).
    public func connect(to vm: VirtualMachine) {
        vm.stateMachine.addListener { [timers] new, _ in
            if new == .suspended {
                timers.setPaused(true)
            } else if new != .resuming {
                timers.setPaused(false)
            }
        }
        pendingRequests.setObserver { [weak vm] request in
            guard let vm else { return }
            switch request {
            case .powerOff(let status):
                vm.requestPowerOff(exitStatus: status)
            case .suspend(let reason):
                vm.requestSuspend(reason: VMSuspendReason(rawValue: reason) ?? .guestDebug)
            }
        }
    }
}
