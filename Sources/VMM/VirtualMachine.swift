import Logging
import Synchronization

/// What was recorded when a vCPU sent the VM into guru meditation.
public struct GuruMeditationReport: Sendable, Equatable {
    /// The vCPU that failed.
    public let vcpu: Int
    /// Why (triple fault / shutdown, KVM internal error, emulation failure …).
    public let reason: String
    /// Its registers at the time, as text.
    public let registers: String
}

/// A virtual machine: its EMTs, state machine and operations. Every operation may be called from any thread
/// (the CLI, the control API, a test, a plugin thread): a non-EMT caller is forwarded to an EMT and blocks on a
/// semaphore until the operation's rendezvous is over.
///
/// Choreography (every operation is a descending, stop-on-error rendezvous): the highest-id EMT, first to run,
/// moves the state into the transitional state (e.g. running → suspending); EMT 0, last, runs the PDM walk and
/// moves to the final state (suspending → suspended). No guest code runs during the rendezvous; afterwards every
/// EMT runs the guest only while the state is `running` and otherwise parks on its own semaphore.
public final class VirtualMachine: @unchecked Sendable {
    /// The state machine (read `state`, register listeners, wait for a state).
    public let stateMachine: VMStateMachine
    /// The EMTs and their requests and rendezvous.
    public let emts: EMTGroup
    let devices: any VMDeviceControl
    let machine: (any VMMachineControl)?
    let logger: Logger
    /// EMT 0's PDM walk waiter.
    public let walkWaiter: EMTWalkWaiter

    /// The KVM machine and the PDM, when the VM was built by `create(configuration:registry:)` (set once,
    /// before the VM is handed out).
    public internal(set) var parts: VirtualMachineParts?

    private let exitStatusBox = Mutex<Int32?>(nil)
    private let guruBox = Mutex<GuruMeditationReport?>(nil)
    private let deferredPowerOffQueued = Atomic<Bool>(false)

    /// Builds the VM over ready vCPU executors (one per vCPU, index = vCPU id), the PDM, and the machine's reset
    /// hook, starts the EMTs (parked) and moves creating → created.
    public init(vcpus: [any VCPUExecutor], devices: any VMDeviceControl, machine: (any VMMachineControl)?,
                logger: Logger = Logger(label: "vmhost.vm")) throws(VMError) {
        guard !vcpus.isEmpty else { throw .invalidVCPU(id: 0, count: 0) }
        self.stateMachine = VMStateMachine(initial: .creating)
        self.devices = devices
        self.machine = machine
        self.logger = logger
        self.emts = EMTGroup(executors: vcpus, logger: logger)
        self.walkWaiter = EMTWalkWaiter(emt: emts.emts[0], group: emts)
        emts.owner = self
        stateMachine.addListener { [logger, emts] new, old in
            emts.guestRunnable.store(new == .running, ordering: .releasing)
            logger.info("VM state \(old) -> \(new)")
        }
        try emts.start()
        try stateMachine.transition(to: .created, requestedBy: "VM creation")
    }

    deinit {
        if stateMachine.state != .terminated { emts.terminate() }
    }

    /// The current state.
    public var state: VMState { stateMachine.state }

    /// Number of vCPUs.
    public var vcpuCount: Int { emts.vcpuCount }

    /// The exit status a device asked for with `vmPowerOff` (DebugExit), once requested.
    public var requestedExitStatus: Int32? { exitStatusBox.withLock { $0 } }

    /// The guru-meditation record, if a vCPU failed.
    public var guruMeditation: GuruMeditationReport? { guruBox.withLock { $0 } }

    // MARK: Operations

    /// created → powering-on → running. EMT 0 runs the PDM power-on walk; if it fails the VM is powered off
    /// (PDM power-off walk) and the error is thrown.
    @discardableResult
    public func powerOn() throws(VMError) -> VMOperationOutcome {
        try operation(.powerOn, harmless: [:]) { vm, emt, isFirst in
            if isFirst { try vm.stateMachine.transition([(.created, .poweringOn)], for: .powerOn) }
            guard emt.id == 0 else { return .success }
            do throws(VMError) {
                try vm.devices.powerOn(waiter: vm.walkWaiter)
            } catch {
                vm.logger.error("power-on failed: \(error); powering off")
                try vm.stateMachine.transition([(.poweringOn, .poweringOff)], for: .powerOn)
                vm.powerOffDevicesLogging()
                try vm.stateMachine.transition([(.poweringOff, .off)], for: .powerOn)
                throw error
            }
            try vm.stateMachine.transition([(.poweringOn, .running)], for: .powerOn)
            return .success
        }
    }

    /// running → suspending → suspended; every EMT then parks without running guest code until `resume()`.
    /// Suspending a suspended VM answers `.alreadyInState(.suspended)`.
    @discardableResult
    public func suspend(reason: VMSuspendReason = .user) throws(VMError) -> VMOperationOutcome {
        if state == .suspended { return .alreadyInState(.suspended) }
        return try operation(.suspend, harmless: [.suspended: .alreadyInState(.suspended)]) { vm, emt, isFirst in
            if isFirst {
                try vm.stateMachine.transition([(.running, .suspending)], for: .suspend, suspendReason: reason)
            }
            guard emt.id == 0 else { return .info(.suspend) }
            do throws(VMError) {
                try vm.devices.suspend(waiter: vm.walkWaiter)
            } catch {
                vm.logger.error("PDM suspend walk failed: \(error)")
            }
            try vm.stateMachine.transition([(.suspending, .suspended)], for: .suspend)
            return .info(.suspend)
        }
    }

    /// suspended → resuming → running. If a device's resume fails the PDM suspends the instances it already
    /// resumed, the VM goes back to suspended and the error is thrown. Resuming a running VM answers
    /// `.alreadyInState(.running)`.
    @discardableResult
    public func resume() throws(VMError) -> VMOperationOutcome {
        if state == .running { return .alreadyInState(.running) }
        return try operation(.resume, harmless: [.running: .alreadyInState(.running)]) { vm, emt, isFirst in
            if isFirst { try vm.stateMachine.transition([(.suspended, .resuming)], for: .resume) }
            guard emt.id == 0 else { return .info(.resume) }
            do throws(VMError) {
                try vm.devices.resume(waiter: vm.walkWaiter)
            } catch {
                vm.logger.error("resume failed: \(error); staying suspended")
                try vm.stateMachine.transition([(.resuming, .suspended)], for: .resume)
                throw error
            }
            try vm.stateMachine.transition([(.resuming, .running)], for: .resume)
            return .info(.resume)
        }
    }

    /// Hard reset from running or suspended: every vCPU back to its power-on state, the PDM reset walk, the
    /// machine reset (guest reloaded); then back to the state it was in. A failure powers the VM off.
    @discardableResult
    public func reset() throws(VMError) -> VMOperationOutcome {
        let context = ResetContext()
        return try operation(.reset, harmless: [:]) { vm, emt, isFirst in
            if isFirst {
                let old = try vm.stateMachine.transition([(.running, .resetting), (.suspended, .resetting)],
                                                         for: .reset)
                context.state.withLock { $0.previous = old }
            }
            if emt.id != 0 {
                do throws(VMError) {
                    try emt.executor.resetToPowerOnState()
                } catch {
                    context.state.withLock { if $0.failure == nil { $0.failure = error } }
                }
                return .info(.reset)
            }
            var failure = context.state.withLock { $0.failure }
            if failure == nil {
                do throws(VMError) {
                    try vm.devices.reset(waiter: vm.walkWaiter)
                    try vm.machine?.resetMachine()
                    try emt.executor.resetToPowerOnState()
                } catch {
                    failure = error
                }
            }
            if let failure {
                vm.logger.error("reset failed: \(failure); powering off")
                try vm.stateMachine.transition([(.resetting, .poweringOff)], for: .reset)
                vm.powerOffDevicesLogging()
                try vm.stateMachine.transition([(.poweringOff, .off)], for: .reset)
                throw failure
            }
            let back = context.state.withLock { $0.previous } == .suspended ? VMState.suspended : .running
            try vm.stateMachine.transition([(.resetting, back)], for: .reset)
            return .info(.reset)
        }
    }

    /// running / suspended / guru-meditation / created → powering-off → off. EMT 0 runs the PDM power-off walk
    /// (every instance gets powerOff, suspended ones too). Powering off an off VM answers `.alreadyInState(.off)`.
    @discardableResult
    public func powerOff() throws(VMError) -> VMOperationOutcome {
        if state == .off { return .alreadyInState(.off) }
        return try operation(.powerOff, harmless: [.off: .alreadyInState(.off)]) { vm, emt, isFirst in
            if isFirst {
                try vm.stateMachine.transition(
                    [(.running, .poweringOff), (.suspended, .poweringOff), (.guruMeditation, .poweringOff),
                     (.created, .poweringOff)], for: .powerOff)
            }
            guard emt.id == 0 else { return .info(.off) }
            vm.powerOffDevicesLogging()
            try vm.stateMachine.transition([(.poweringOff, .off)], for: .powerOff)
            return .info(.off)
        }
    }

    /// off / created → destroying → terminated: EMT 0 destructs the PDM instances, then every EMT terminates
    /// and is joined. Not on an EMT.
    public func destroy() throws(VMError) {
        if let emt = emts.currentEMT() { throw .calledOnEMT(operation: "destroy", vcpu: emt.id) }
        try emts.requests.call(.vcpu(0)) { [self] _ in
            do throws(VMError) {
                try stateMachine.transition([(.off, .destroying), (.created, .destroying)], for: .destroy)
            } catch {
                return .failure(error)
            }
            devices.destroy()
            return .success
        }.throwIfFailure()
        emts.terminate()
        try stateMachine.transition(to: .terminated, requestedBy: "destroy")
    }

    /// Blocks until the state satisfies `predicate` (nil timeout: forever). Not on an EMT of this VM when the
    /// awaited state needs that EMT.
    public func waitForState(timeoutNanoseconds: UInt64? = nil,
                             _ predicate: @escaping @Sendable (VMState) -> Bool) -> VMState? {
        stateMachine.waitUntil(timeoutNanoseconds: timeoutNanoseconds, predicate)
    }

    // MARK: Requests from devices (any thread, including an EMT inside an I/O handler)

    /// A device asked for power-off with a process exit status (DebugExit). Records the status (the first one
    /// wins) and queues the power-off to an EMT; returns at once.
    public func requestPowerOff(exitStatus: Int32) {
        exitStatusBox.withLock { if $0 == nil { $0 = exitStatus } }
        guard !deferredPowerOffQueued.exchange(true, ordering: .sequentiallyConsistent) else { return }
        queueDeferred("power off") { vm in
            // Allow a later request once this one is over, so a failed attempt does not swallow the next
            // DebugExit (the exit status recorded first still wins).
            defer { vm.deferredPowerOffQueued.store(false, ordering: .sequentiallyConsistent) }
            switch vm.state {
            case .off, .poweringOff, .destroying, .terminated: return
            default: _ = try vm.powerOff()
            }
        }
    }

    /// A device (or the guest through one) asked for a suspend; queued to an EMT, returns at once.
    public func requestSuspend(reason: VMSuspendReason) {
        queueDeferred("suspend") { vm in
            guard vm.state == .running else { return }
            _ = try vm.suspend(reason: reason)
        }
    }

    private func queueDeferred(_ what: String, _ work: @escaping @Sendable (VirtualMachine) throws -> Void) {
        do throws(VMError) {
            try emts.requests.call(.anyQueued, wait: false) { [weak self] _ in
                guard let self else { return .success }
                do {
                    try work(self)
                } catch {
                    self.logger.error("requested \(what) failed: \(error)")
                    return .failure(VMError.wrapping(error))
                }
                return .success
            }
        } catch {
            logger.error("cannot queue the requested \(what): \(error)")
        }
    }

    // MARK: Internals

    private final class ResetContext: @unchecked Sendable {
        struct State {
            var previous: VMState = .running
            var failure: VMError?
        }
        let state = Mutex(State())
    }

    /// Runs an operation as a descending, stop-on-error rendezvous. `body(vm, emt, isFirst)` runs on every EMT,
    /// N-1 first; a failure of the first EMT's transition whose current state is a key of `harmless` answers that
    /// outcome instead of an error.
    private func operation(_ op: VMOperation, harmless: [VMState: VMOperationOutcome],
                           _ body: @escaping @Sendable (VirtualMachine, EmulationThread, Bool) throws -> EMTStatus)
        throws(VMError) -> VMOperationOutcome {
        let current = state
        if current == .destroying || current == .terminated {
            throw .invalidState(operation: op, current: current)
        }
        let last = emts.vcpuCount - 1
        let status = try emts.rendezvous.run(.descending, options: [.stopOnError]) { [unowned self] emt in
            do {
                return try body(self, emt, emt.id == last)
            } catch {
                return .failure(VMError.wrapping(error))
            }
        }
        if case let .failure(error) = status {
            if case let .invalidState(failedOp, current) = error, failedOp == op, let outcome = harmless[current] {
                return outcome
            }
            throw error
        }
        return .done
    }

    private func powerOffDevicesLogging() {
        do throws(VMError) {
            try devices.powerOff(waiter: walkWaiter)
        } catch {
            logger.error("PDM power-off walk failed: \(error)")
        }
    }
}

extension VirtualMachine: EMTGroupOwner {
    func emtVCPUFailed(_ emt: EmulationThread, reason: String, registers: String) {
        logger.critical("guru meditation: vCPU \(emt.id): \(reason)\n\(registers)")
        guruBox.withLock { box in
            if box == nil { box = GuruMeditationReport(vcpu: emt.id, reason: reason, registers: registers) }
        }
        do throws(VMError) {
            _ = try emts.rendezvous.run(.once) { [unowned self] _ in
                do throws(VMError) {
                    try stateMachine.transition([(.running, .guruMeditation)], for: .guruMeditation)
                } catch {
                    return .failure(error)
                }
                return .info(.suspend)
            }
        } catch {
            logger.error("guru meditation rendezvous failed: \(error)")
        }
    }
}

extension EMTStatus {
    /// Throws the failure, if any.
    func throwIfFailure() throws(VMError) {
        if case let .failure(error) = self { throw error }
    }
}
