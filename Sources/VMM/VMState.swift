/// The life-cycle state of a virtual machine. Transitional states (`poweringOn`, `suspending`, …) last while
/// EMT 0 runs the corresponding PDM walk inside an EMT rendezvous.
public enum VMState: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The VM object is being built (machine, PDM devices).
    case creating
    /// Built, never powered on.
    case created
    /// PDM power-on walk in progress.
    case poweringOn
    /// vCPUs execute guest code.
    case running
    /// PDM suspend walk in progress; no guest code runs.
    case suspending
    /// Suspended: every EMT is parked and runs no guest code until resume.
    case suspended
    /// PDM resume walk in progress.
    case resuming
    /// Hard reset in progress (PDM reset walk, vCPU and guest reload).
    case resetting
    /// PDM power-off walk in progress.
    case poweringOff
    /// Powered off; only destroy is left.
    case off
    /// A vCPU hit a fatal condition (triple fault, internal error); no guest code runs; power-off works.
    case guruMeditation
    /// PDM instances are being destructed and the EMTs are terminating.
    case destroying
    /// Everything is gone.
    case terminated

    public var description: String { rawValue }

    /// The state table: every allowed `from → to`. Anything not listed is refused by `VMStateMachine`.
    public static let allowedTransitions: [VMState: Set<VMState>] = [
        .creating: [.created, .destroying],
        .created: [.poweringOn, .poweringOff, .destroying],
        .poweringOn: [.running, .poweringOff],
        .running: [.suspending, .resetting, .poweringOff, .guruMeditation],
        .suspending: [.suspended],
        .suspended: [.resuming, .resetting, .poweringOff],
        .resuming: [.running, .suspended],
        .resetting: [.running, .suspended, .poweringOff],
        .poweringOff: [.off],
        .off: [.destroying],
        .guruMeditation: [.poweringOff],
        .destroying: [.terminated],
        .terminated: [],
    ]

    /// True if the table allows `self → next`.
    public func canTransition(to next: VMState) -> Bool {
        VMState.allowedTransitions[self]?.contains(next) ?? false
    }
}

/// The VM operations that change the state (the verbs of `VirtualMachine` and of the control API).
public enum VMOperation: String, Sendable, CaseIterable {
    case powerOn = "power on"
    case suspend
    case resume
    case reset
    case powerOff = "power off"
    case destroy
    case guruMeditation = "enter guru meditation"
}

/// Why a VM was suspended (matches `VMH_SUSPEND_REASON_*` of the plugin ABI).
public enum VMSuspendReason: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// The user (CLI, control API) asked.
    case user = 1
    /// A device hit an I/O error and asked for a suspend.
    case ioError = 2
    /// The guest (or a debug device acting for it) asked.
    case guestDebug = 3
    /// The host is going to sleep or short of resources.
    case host = 4

    public var description: String {
        switch self {
        case .user: return "user"
        case .ioError: return "io-error"
        case .guestDebug: return "guest-debug"
        case .host: return "host"
        }
    }
}

/// The answer of a state-changing operation that did not fail.
public enum VMOperationOutcome: Sendable, Equatable {
    /// The operation ran and the VM reached its target state.
    case done
    /// Nothing to do: the VM already is where the operation leads (suspend of a suspended VM, resume of a running
    /// VM). Harmless; no PDM callback ran.
    case alreadyInState(VMState)
}
