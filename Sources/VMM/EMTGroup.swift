import Logging
import Synchronization

/// What the EMTs ask of the VM they belong to.
protocol EMTGroupOwner: AnyObject, Sendable {
    /// `emt`'s vCPU hit a fatal condition (triple fault, internal error). Called on that EMT.
    func emtVCPUFailed(_ emt: EmulationThread, reason: String, registers: String)
}

/// The emulation threads of one VM with their shared machinery: VM force-action flags, request queues and the
/// rendezvous. Knows nothing about devices or VM states; the owner (`VirtualMachine`) decides when guest code may
/// run and what a fatal vCPU condition means.
public final class EMTGroup: @unchecked Sendable {
    /// VM-wide force-action flags.
    public let vmFlags = ForceActionFlags<VMForceAction>()
    /// One EMT per vCPU, index = vCPU id.
    public private(set) var emts: [EmulationThread] = []
    /// The request queues.
    public private(set) var requests: RequestQueue!
    /// The rendezvous machinery.
    public private(set) var rendezvous: Rendezvous!

    weak var owner: (any EMTGroupOwner)?
    /// May the EMTs execute guest code? Set by the owner (the VM: true exactly while the state is `running`);
    /// read by every EMT between guest runs (a plain load, no reference counting on the hot path).
    let guestRunnable = Atomic<Bool>(false)
    let logger: Logger
    private let running = Atomic<Bool>(false)

    init(executors: [any VCPUExecutor], logger: Logger) {
        self.logger = logger
        requests = RequestQueue(group: self, vcpuCount: executors.count)
        rendezvous = Rendezvous(group: self)
        emts = executors.enumerated().map { EmulationThread(id: $0.offset, executor: $0.element, group: self) }
    }

    /// Number of vCPUs.
    public var vcpuCount: Int { emts.count }

    /// The EMT of this group running on the calling thread, if any.
    public func currentEMT() -> EmulationThread? {
        guard let emt = CurrentEMT.get(), emt.group === self else { return nil }
        return emt
    }

    /// Starts every EMT (they park until the VM lets them run or hands them work).
    func start() throws(VMError) {
        guard !running.exchange(true, ordering: .sequentiallyConsistent) else { return }
        for emt in emts {
            do throws(VMError) {
                try emt.start()
            } catch {
                terminate()
                throw error
            }
        }
    }

    /// Tells every EMT to leave its loop, joins them (an EMT calling this detaches itself instead and leaves its
    /// loop when it returns to it), and fails whatever requests are still queued.
    func terminate() {
        vmFlags.set(.terminate)
        for emt in emts { emt.notify() }
        let caller = currentEMT()
        for emt in emts {
            if emt === caller { emt.detach() } else { emt.join() }
        }
        requests.close()
        running.store(false, ordering: .sequentiallyConsistent)
    }

    /// Notifies every EMT (after setting a VM force-action flag).
    public func notifyAll() {
        for emt in emts { emt.notify() }
    }

    @inline(__always)
    func mayRunGuest(_ emt: EmulationThread) -> Bool {
        guestRunnable.load(ordering: .acquiring)
    }

    func vcpuFailed(_ emt: EmulationThread, reason: String, registers: String) {
        owner?.emtVCPUFailed(emt, reason: reason, registers: registers)
    }
}
