import CKVM
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Why a KVM operation failed. Every ioctl failure in this module becomes `.ioctlFailed` in exactly one place
/// (`KVMError.check`), carrying the name of the operation and the `Errno`.
public enum KVMError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `/dev/kvm` (or the given path) does not exist: no KVM module loaded, or not a Linux host with KVM.
    case deviceMissing(path: String)
    /// `/dev/kvm` exists but this process may not open it read-write.
    case permissionDenied(path: String)
    /// Opening the KVM device failed for another reason.
    case openFailed(path: String, errno: Errno)
    /// `KVM_GET_API_VERSION` returned something other than the stable API 12.
    case unsupportedAPIVersion(Int32)
    /// The kernel's KVM lacks a capability this VMM needs.
    case missingCapability(KVMCapability)
    /// An ioctl failed: `operation` is what was attempted (e.g. "KVM_SET_USER_MEMORY_REGION slot 0").
    case ioctlFailed(operation: String, errno: Errno)
    /// `mmap` of a vCPU's `kvm_run` area failed.
    case mapFailed(operation: String, errno: Errno)
    /// A helper allocation for a flexible-array struct failed.
    case outOfMemory(operation: String)
    /// A caller passed an argument the operation cannot take (e.g. an unaligned memory region).
    case invalidArgument(operation: String, reason: String)

    public var description: String {
        switch self {
        case .deviceMissing(let path):
            return "KVM is not available: \(path) does not exist (is the kvm module loaded?)"
        case .permissionDenied(let path):
            return "KVM is not available: no permission to open \(path) read-write (add the user to group 'kvm')"
        case .openFailed(let path, let errno):
            return "cannot open \(path): \(errno)"
        case .unsupportedAPIVersion(let v):
            return "KVM API version \(v) is not supported (need \(KVM_API_VERSION))"
        case .missingCapability(let cap):
            return "KVM lacks the required capability \(cap)"
        case .ioctlFailed(let op, let errno):
            return "\(op) failed: \(errno) (errno \(errno.rawValue))"
        case .mapFailed(let op, let errno):
            return "\(op) failed: \(errno) (errno \(errno.rawValue))"
        case .outOfMemory(let op):
            return "\(op): out of memory"
        case .invalidArgument(let op, let reason):
            return "\(op): \(reason)"
        }
    }

    /// The one place an ioctl result becomes an error: returns `result` when it is not negative, else throws
    /// `.ioctlFailed` with the operation's name and the current `errno`.
    @inline(__always)
    static func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(KVMError) -> Int32 {
        if result >= 0 { return result }
        throw KVMError.ioctlFailed(operation: operation(), errno: Errno(rawValue: errno))
    }
}
