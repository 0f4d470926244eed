import CKVM
import Glibc
import Logging
import Synchronization

/// What an EMT is doing right now, as seen by threads that notify it.
enum EMTActivity: UInt8 {
    /// Host code: force actions, requests, exit handling.
    case busy = 0
    /// Blocked on its park semaphore (suspended VM, halted vCPU, or EMT 0 waiting inside a PDM walk).
    case parked = 1
    /// Inside (or about to enter) `KVM_RUN`.
    case inGuest = 2
}

/// The emulation thread (EMT) of one vCPU: a pthread running the EMT loop.
///
/// Loop: terminate? → join a pending rendezvous → serve requests (priority first, global then own) → run the guest
/// once if the VM state lets this vCPU run, else park on the EMT's own semaphore. `notify()` kicks it out of
/// `KVM_RUN` or wakes the park.
public final class EmulationThread: @unchecked Sendable {
    /// The vCPU id (0 = boot processor).
    public let id: Int
    /// The vCPU this EMT drives.
    public let executor: any VCPUExecutor
    /// This vCPU's force-action flags.
    public let flags = ForceActionFlags<VCPUForceAction>()

    unowned(unsafe) let group: EMTGroup
    let parkSemaphore = ThreadSemaphore()
    /// Released by the rendezvous (ordered/all-at-once release and "done" release).
    let rendezvousSemaphore = ThreadSemaphore()
    private let activity = Atomic<UInt8>(EMTActivity.busy.rawValue)
    private let exitedSemaphore = ThreadSemaphore()
    private let started = Atomic<Bool>(false)
    private let threadHandle = Mutex<pthread_t?>(nil)

    // Touched only on this EMT.
    /// True while this EMT takes part in a rendezvous (nested rendezvous are refused).
    var inRendezvous = false
    /// Generation of the last rendezvous round this EMT joined.
    var lastRendezvousGeneration: UInt64 = 0
    /// The queued request whose body runs right now on this EMT.
    var currentRequest: VMRequest?
    /// Serials of the last request this EMT took from a queue and of the last it answered (diagnostics).
    let lastTakenRequest = Atomic<UInt64>(0)
    let lastAnsweredRequest = Atomic<UInt64>(0)
    /// The kernel thread id of this EMT once it runs (0 before): for diagnostics and tests.
    public let threadID = Atomic<Int32>(0)

    init(id: Int, executor: any VCPUExecutor, group: EMTGroup) {
        self.id = id
        self.executor = executor
        self.group = group
    }

    /// "parked", "busy" or "in guest" (a racy snapshot, for diagnostics).
    var activityDescription: String {
        switch EMTActivity(rawValue: activity.load(ordering: .relaxed)) {
        case .parked: return "parked"
        case .inGuest: return "in guest"
        default: return "busy"
        }
    }

    /// True while the EMT is parked on its semaphore (suspended VM, halted vCPU, EMT 0 waiting in a walk).
    public var isParked: Bool { activity.load(ordering: .sequentiallyConsistent) == EMTActivity.parked.rawValue }

    /// True when called on this EMT.
    public var isCurrentThread: Bool { CurrentEMT.get() === self }

    // MARK: Thread life

    func start() throws(VMError) {
        VCPUKickSignal.install()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 1 << 20)
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, emtThreadEntry, context)
        guard rc == 0 else {
            Unmanaged<EmulationThread>.fromOpaque(context).release()
            throw .machineFailed(operation: "start EMT \(id)", message: "pthread_create failed: \(String(cString: strerror(rc)))")
        }
        threadHandle.withLock { $0 = thread }
        started.store(true, ordering: .sequentiallyConsistent)
    }

    /// Lets the thread clean up by itself (used when the EMT itself terminates its group).
    func detach() {
        let thread = threadHandle.withLock { handle in
            defer { handle = nil }
            return handle
        }
        if let thread { pthread_detach(thread) }
        started.store(false, ordering: .sequentiallyConsistent)
    }

    /// Waits until the thread has left its loop and joins it.
    func join() {
        guard started.load(ordering: .sequentiallyConsistent) else { return }
        exitedSemaphore.wait()
        let thread = threadHandle.withLock { handle in
            defer { handle = nil }
            return handle
        }
        if let thread { pthread_join(thread, nil) }
        started.store(false, ordering: .sequentiallyConsistent)
    }

    fileprivate func threadMain() {
        ThreadScheduling.adoptProcessDefault()
        ckvm_set_thread_name("EMT-\(id)")
        threadID.store(ckvm_thread_id(), ordering: .relaxed)
        VCPUKickSignal.unblockOnCurrentThread()
        CurrentEMT.set(self)
        // The group (and through it the queues and the rendezvous) lives at least as long as this thread, even if
        // the VM is released while the EMT still runs.
        let group: EMTGroup = self.group
        withExtendedLifetime(group) { loop() }
        CurrentEMT.set(nil)
        exitedSemaphore.post()
    }

    // MARK: Notification

    /// Makes this EMT look at its force-action flags soon: kicks it out of `KVM_RUN` or wakes its park.
    /// Set the flags first, then notify. Any thread.
    public func notify() {
        if activity.compareExchange(expected: EMTActivity.parked.rawValue, desired: EMTActivity.busy.rawValue,
                                    ordering: .sequentiallyConsistent).exchanged {
            parkSemaphore.post()
            return
        }
        if activity.load(ordering: .sequentiallyConsistent) == EMTActivity.inGuest.rawValue {
            executor.requestImmediateExit()
            threadHandle.withLock { handle in
                if let handle { pthread_kill(handle, VCPUKickSignal.number) }
            }
        }
    }

    /// True if a force action needs this EMT's attention (it must not enter the guest or stay parked).
    func hasPendingForceAction() -> Bool {
        group.vmFlags.isAnySet(VMForceAction.externalMask) || flags.isAnySet(VCPUForceAction.externalMask)
    }

    /// Parks until `notify()` unless `shouldWake()` already holds. Used by the loop, the halted wait and the
    /// PDM walk waiter. Returns false if it came back because `timeoutNanoseconds` passed without a notification.
    @discardableResult
    func park(timeoutNanoseconds: UInt64? = nil, shouldWake: () -> Bool) -> Bool {
        activity.store(EMTActivity.parked.rawValue, ordering: .sequentiallyConsistent)
        if shouldWake() {
            if activity.compareExchange(expected: EMTActivity.parked.rawValue, desired: EMTActivity.busy.rawValue,
                                        ordering: .sequentiallyConsistent).exchanged {
                return true
            }
            parkSemaphore.wait()  // a notifier took us out of `parked` and posts: consume it
            return true
        }
        if let timeoutNanoseconds {
            if parkSemaphore.wait(timeoutNanoseconds: timeoutNanoseconds) { return true }
            if activity.compareExchange(expected: EMTActivity.parked.rawValue, desired: EMTActivity.busy.rawValue,
                                        ordering: .sequentiallyConsistent).exchanged {
                return false
            }
            parkSemaphore.wait()
            return true
        } else {
            parkSemaphore.wait()
            return true
        }
    }

    /// How long an idle EMT parks before it looks again by itself: a safety net, so that a notification lost
    /// anywhere costs this much latency instead of a VM operation that never returns. Once a second: an idle or
    /// suspended VM should cost the host next to no wake-ups.
    static let parkRecheckNanoseconds: UInt64 = 1_000_000_000

    /// After a park that timed out: work that is queued without its flag means a notification went missing.
    /// Re-flags it (so the loop serves it) and says so in the log.
    private func recoverMissedWakeup() {
        guard group.requests.reflagQueuedWork(for: self) else { return }
        group.logger.error("internal: EMT \(id): found queued work without its notification; serving it now\n\(group.diagnostics())")
    }

    // MARK: The loop

    private func loop() {
        let vmFlags = group.vmFlags
        while true {
            if flags.isAnySet(.terminate) || vmFlags.isAnySet(.terminate) { break }
            if vmFlags.isAnySet(.rendezvous) {
                group.rendezvous.joinPending(self)
                continue
            }
            if group.requests.hasPending(for: self) {
                _ = group.requests.process(on: self, priorityOnly: false)
                continue
            }
            if group.mayRunGuest(self) {
                activity.store(EMTActivity.inGuest.rawValue, ordering: .sequentiallyConsistent)
                if hasPendingForceAction() {
                    activity.store(EMTActivity.busy.rawValue, ordering: .sequentiallyConsistent)
                    continue
                }
                let result = executor.runOnce()
                activity.store(EMTActivity.busy.rawValue, ordering: .sequentiallyConsistent)
                executor.clearImmediateExit()
                handle(result)
            } else if !park(timeoutNanoseconds: Self.parkRecheckNanoseconds, shouldWake: {
                hasPendingForceAction() || group.mayRunGuest(self)
            }) {
                recoverMissedWakeup()
            }
        }
    }

    private func handle(_ result: VCPURunResult) {
        switch result {
        case .continue, .interrupted, .powerOffRequested, .suspendRequested:
            return
        case .halted:
            // With the in-kernel irqchip KVM blocks in HLT itself; without it, wait for a notification (bounded,
            // so an interrupt raised without a notification is still seen).
            park(timeoutNanoseconds: 1_000_000) { hasPendingForceAction() }
        case let .shutdown(reason, registers):
            group.vcpuFailed(self, reason: reason, registers: registers)
        case let .internalError(reason, registers):
            group.vcpuFailed(self, reason: reason, registers: registers)
        }
    }
}

/// The pthread start routine of every EMT (non-capturing; the EMT arrives retained through `context`).
private let emtThreadEntry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { context in
    guard let context else { return nil }
    let emt = Unmanaged<EmulationThread>.fromOpaque(context).takeRetainedValue()
    emt.threadMain()
    return nil
}

/// The EMT running on the current thread (a pthread-specific pointer, not retained).
enum CurrentEMT {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static func get() -> EmulationThread? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<EmulationThread>.fromOpaque(raw).takeUnretainedValue()
    }

    static func set(_ emt: EmulationThread?) {
        pthread_setspecific(key, emt.map { Unmanaged.passUnretained($0).toOpaque() })
    }
}
