import Synchronization

/// Force actions that concern the whole VM: an EMT checks them between guest runs.
public struct VMForceAction: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// An EMT rendezvous is in progress: every EMT must join it.
    public static let rendezvous = VMForceAction(rawValue: 1 << 0)
    /// The global ("any EMT") request queue holds work.
    public static let request = VMForceAction(rawValue: 1 << 1)
    /// Every EMT must leave its loop (VM destruction).
    public static let terminate = VMForceAction(rawValue: 1 << 3)

    /// What makes an EMT leave guest execution, a park or a halt.
    public static let externalMask: VMForceAction = [.rendezvous, .request, .terminate]
}

/// Force actions that concern one vCPU.
public struct VCPUForceAction: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// This vCPU's request queue holds work.
    public static let request = VCPUForceAction(rawValue: 1 << 0)
    /// This EMT must leave its loop.
    public static let terminate = VCPUForceAction(rawValue: 1 << 1)
    /// EMT 0 only: a PDM walk waiting for async notifications was woken (a device or driver said it is done).
    public static let walkWakeup = VCPUForceAction(rawValue: 1 << 2)

    /// What makes an EMT leave guest execution, a park or a halt.
    public static let externalMask: VCPUForceAction = [.request, .terminate]
}

/// A set of force-action flags shared between threads (one per VM and one per vCPU), lock-free.
///
/// Setters are any thread; the owning EMT tests and clears. Setting a flag does not wake anyone: the setter then
/// notifies the EMT(s) concerned (`EmulationThread.notify()`).
public final class ForceActionFlags<Flag: OptionSet & Sendable>: @unchecked Sendable where Flag.RawValue == UInt32 {
    private let bits = Atomic<UInt32>(0)

    public init() {}

    /// The flags currently set.
    public var current: Flag { Flag(rawValue: bits.load(ordering: .sequentiallyConsistent)) }

    /// Sets `flags` (in addition to those already set).
    public func set(_ flags: Flag) {
        bits.bitwiseOr(flags.rawValue, ordering: .sequentiallyConsistent)
    }

    /// Clears `flags`.
    public func clear(_ flags: Flag) {
        bits.bitwiseAnd(~flags.rawValue, ordering: .sequentiallyConsistent)
    }

    /// True if any flag of `flags` is set.
    public func isAnySet(_ flags: Flag) -> Bool {
        bits.load(ordering: .sequentiallyConsistent) & flags.rawValue != 0
    }

    /// Clears `flags` and tells whether any of them was set.
    public func testAndClear(_ flags: Flag) -> Bool {
        bits.bitwiseAnd(~flags.rawValue, ordering: .sequentiallyConsistent).oldValue & flags.rawValue != 0
    }
}
