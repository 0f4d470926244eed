import KVM

/// Why a machine could not be created or prepared. Wraps the failing layer's error, whose message names the
/// operation, file or address at fault.
public enum MachineError: Error, Equatable, Sendable, CustomStringConvertible {
    case kvm(KVMError)
    case memory(GuestMemoryError)
    case load(PVHLoadError)
    /// The configuration asks for a vCPU count KVM cannot give.
    case invalidVCPUCount(requested: Int, maximum: Int)
    /// The configuration asks for more RAM than the guest-physical layout allows.
    case invalidMemorySize(UInt64)

    public var description: String {
        switch self {
        case .kvm(let e): return e.description
        case .memory(let e): return e.description
        case .load(let e): return e.description
        case .invalidVCPUCount(let n, let max): return "invalid vCPU count \(n): must be between 1 and \(max)"
        case .invalidMemorySize(let s): return "invalid guest memory size \(s) bytes"
        }
    }
}
