import Synchronization

/// Power-off and suspend requests devices make (DebugExit's `vmPowerOff`, `vmSuspend`), parked until an EMT
/// picks them up. Any thread may request; `VCPURunner` reports a request made during an exit as its outcome.
///
/// The VM layer may also install an observer that is called (on the requesting thread) for every request.
public final class MachineRequests: Sendable {
    private static let none: Int64 = .min
    private let powerOff = Atomic<Int64>(MachineRequests.none)
    private let suspend = Atomic<Int32>(0)
    private let pending = Atomic<Bool>(false)
    private let observer = Mutex<(@Sendable (Request) -> Void)?>(nil)

    /// A request as the observer sees it.
    public enum Request: Sendable, Equatable {
        case powerOff(exitStatus: Int32)
        case suspend(reason: Int32)
    }

    public init() {}

    /// Installs (or removes, with nil) the observer called for every request.
    public func setObserver(_ body: (@Sendable (Request) -> Void)?) {
        observer.withLock { $0 = body }
    }

    /// Records a power-off request with the process exit status to use once the VM is off.
    public func requestPowerOff(exitStatus: Int32) {
        powerOff.store(Int64(exitStatus), ordering: .releasing)
        pending.store(true, ordering: .releasing)
        notify(.powerOff(exitStatus: exitStatus))
    }

    /// Records a suspend request (`VMH_SUSPEND_REASON_*`).
    public func requestSuspend(reason: Int32) {
        suspend.store(reason, ordering: .releasing)
        pending.store(true, ordering: .releasing)
        notify(.suspend(reason: reason))
    }

    private func notify(_ request: Request) {
        let body = observer.withLock { $0 }
        body?(request)
    }

    /// True when a request waits to be taken (one relaxed load: the hot path checks it after every I/O exit).
    @inline(__always)
    public var hasPending: Bool { pending.load(ordering: .acquiring) }

    /// Takes the pending power-off request, if any (exactly one caller gets it).
    public func takePowerOff() -> Int32? {
        let v = powerOff.exchange(Self.none, ordering: .acquiringAndReleasing)
        refreshPending()
        return v == Self.none ? nil : Int32(truncatingIfNeeded: v)
    }

    /// Takes the pending suspend request, if any.
    public func takeSuspend() -> Int32? {
        let v = suspend.exchange(0, ordering: .acquiringAndReleasing)
        refreshPending()
        return v == 0 ? nil : v
    }

    private func refreshPending() {
        // Clear first, then re-check: a request racing with the take keeps the flag set.
        pending.store(false, ordering: .sequentiallyConsistent)
        if powerOff.load(ordering: .sequentiallyConsistent) != Self.none
            || suspend.load(ordering: .sequentiallyConsistent) != 0 {
            pending.store(true, ordering: .sequentiallyConsistent)
        }
    }
}
