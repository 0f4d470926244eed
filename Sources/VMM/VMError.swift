/// Errors of the threaded half of the VMM: VM operations, the state machine, requests and rendezvous.
public enum VMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `operation` is not allowed while the VM is in `current`.
    case invalidState(operation: VMOperation, current: VMState)
    /// The state machine refused `from` → `to` (not in the transition table).
    case invalidTransition(from: VMState, to: VMState, requestedBy: String)
    /// During `operation` the state changed under the operation's feet (expected `expected`, found `actual`).
    case unexpectedState(operation: VMOperation, expected: VMState, actual: VMState)
    /// An EMT already inside a rendezvous tried to start another one.
    case rendezvousRecursion(vcpu: Int)
    /// The rendezvous flags are not a valid combination (e.g. stop-on-error with all-at-once).
    case invalidRendezvousFlags(String)
    /// A request or rendezvous named a vCPU the VM does not have.
    case invalidVCPU(id: Int, count: Int)
    /// The operation must not be called on an EMT (e.g. destroy).
    case calledOnEMT(operation: String, vcpu: Int)
    /// The EMTs are gone (VM terminated): nothing can be queued any more.
    case emtsTerminated
    /// A PDM power walk failed.
    case deviceWalkFailed(operation: VMOperation, message: String)
    /// The machine half (KVM, guest memory, loader) failed.
    case machineFailed(operation: String, message: String)
    /// A vCPU hit a fatal condition (triple fault, internal error); the VM is in guru meditation.
    case guruMeditation(vcpu: Int, reason: String)
    /// A request callback or rendezvous callback reported a failure.
    case callbackFailed(String)

    /// `error` itself if it is a `VMError`, else `.callbackFailed` with its description.
    public static func wrapping(_ error: any Error) -> VMError {
        (error as? VMError) ?? .callbackFailed(String(describing: error))
    }

    public var description: String {
        switch self {
        case let .invalidState(operation, current):
            return "cannot \(operation.rawValue): the VM is \(current.rawValue)"
        case let .invalidTransition(from, to, who):
            return "\(who): the VM state transition \(from.rawValue) -> \(to.rawValue) is not allowed"
        case let .unexpectedState(operation, expected, actual):
            return "\(operation.rawValue): expected the VM to be \(expected.rawValue) but it is \(actual.rawValue)"
        case let .rendezvousRecursion(vcpu):
            return "EMT \(vcpu) is already inside an EMT rendezvous; a nested rendezvous is refused"
        case let .invalidRendezvousFlags(why):
            return "invalid rendezvous flags: \(why)"
        case let .invalidVCPU(id, count):
            return "vCPU \(id) does not exist (the VM has \(count) vCPUs)"
        case let .calledOnEMT(operation, vcpu):
            return "\(operation) must not be called on an EMT (called on EMT \(vcpu))"
        case .emtsTerminated:
            return "the VM's emulation threads have terminated"
        case let .deviceWalkFailed(operation, message):
            return "PDM \(operation.rawValue) failed: \(message)"
        case let .machineFailed(operation, message):
            return "machine \(operation) failed: \(message)"
        case let .guruMeditation(vcpu, reason):
            return "guru meditation on vCPU \(vcpu): \(reason)"
        case let .callbackFailed(message):
            return message
        }
    }
}
