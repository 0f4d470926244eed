import Glibc
import Synchronization

/// Where a request runs.
public enum RequestTarget: Sendable, Equatable {
    /// On the EMT of this vCPU (inline if the caller is that EMT).
    case vcpu(Int)
    /// On whichever EMT takes it first (inline if the caller is an EMT of this VM).
    case any
    /// On whichever EMT takes it first, always queued, even from an EMT (defers work out of an I/O handler).
    case anyQueued
    /// On every EMT in turn, 0 → N-1, each awaited before the next (the caller always waits).
    case all
    /// On every EMT in turn, N-1 → 0, each awaited before the next (the caller always waits).
    case allReverse
}

/// One queued call.
final class VMRequest: @unchecked Sendable {
    let body: @Sendable (EmulationThread) -> EMTStatus
    let priority: Bool
    /// A thread that is not an EMT blocks on `done`; it sets `answered` once it woke up (see `process`).
    var outsideWaiter = false
    let answered = Atomic<Bool>(false)
    /// Numbered when queued (1, 2, …), for diagnostics.
    var serial: UInt64 = 0
    /// Set by the body (through `EmulationThread.currentRequest`): run after the requester has its answer (or
    /// the acknowledgement timed out). Used by a forwarded rendezvous to release the EMTs it holds.
    var afterAnswer: (() -> Void)?
    /// Written by the executing EMT before `done` is posted; read by the waiter after.
    var status: EMTStatus = .success
    let done = ThreadSemaphore()

    init(priority: Bool, body: @escaping @Sendable (EmulationThread) -> EMTStatus) {
        self.priority = priority
        self.body = body
    }
}

/// A FIFO request list with a priority lane (one for the global queue, one per vCPU).
final class RequestList: @unchecked Sendable {
    struct Lanes {
        var priority: [VMRequest] = []
        var normal: [VMRequest] = []
    }
    let lanes = Mutex(Lanes())

    func push(_ request: VMRequest) {
        lanes.withLock { lanes in
            if request.priority { lanes.priority.append(request) } else { lanes.normal.append(request) }
        }
    }

    /// The oldest priority request, else (unless `priorityOnly`) the oldest normal one.
    func pop(priorityOnly: Bool) -> VMRequest? {
        lanes.withLock { lanes in
            if !lanes.priority.isEmpty { return lanes.priority.removeFirst() }
            if !priorityOnly, !lanes.normal.isEmpty { return lanes.normal.removeFirst() }
            return nil
        }
    }

    func hasPending(priorityOnly: Bool) -> Bool {
        lanes.withLock { !$0.priority.isEmpty || (!priorityOnly && !$0.normal.isEmpty) }
    }

    func drainAll() -> [VMRequest] {
        lanes.withLock { lanes in
            defer { lanes = Lanes() }
            return lanes.priority + lanes.normal
        }
    }
}

/// The request queues of a VM: call a closure on a given EMT, on any EMT, or on all EMTs in order; wait for its
/// status or not. Queuing sets the request force-action flag and notifies the EMT(s); waiters block on a
/// per-request semaphore. Priority requests are also served by EMT 0 while it waits inside a PDM walk.
public final class RequestQueue: @unchecked Sendable {
    unowned(unsafe) let group: EMTGroup
    let global = RequestList()
    let perVCPU: [RequestList]
    /// Set once the EMTs are gone: new requests fail with `VMError.emtsTerminated`.
    let closed = Atomic<Bool>(false)
    /// Serial of the last queued request (diagnostics).
    let lastSerial = Atomic<UInt64>(0)
    /// Serials of the requests an outside thread is blocked on right now (diagnostics).
    let awaited = Mutex<Set<UInt64>>([])
    /// How often a waiting requester's timed wait ran out (diagnostics).
    let requesterRechecks = Atomic<UInt64>(0)

    /// How long an EMT waits for an outside requester to pick up its answer before it goes on.
    static let acknowledgeTimeoutNanoseconds: UInt64 = 2_000_000
    /// How often it looks (sleeping in between, so the requester has the CPU).
    static let acknowledgePollNanoseconds: UInt64 = 50_000

    init(group: EMTGroup, vcpuCount: Int) {
        self.group = group
        perVCPU = (0..<vcpuCount).map { _ in RequestList() }
    }

    /// Runs `body` on the EMT(s) named by `target`.
    ///
    /// - `wait`: block until done and return the status (forced for `.all`/`.allReverse`); without it the call
    ///   returns `.success` once queued (or after running inline).
    /// - `priority`: the request is served even while EMT 0 waits for async devices inside a PDM walk. Use it
    ///   from threads the walk may be waiting for; a normal request to a parked vCPU is only served after the
    ///   operation ends.
    /// - Caller is an EMT of this VM and the target is its own id or `.any`: runs inline, at once.
    @discardableResult
    public func call(_ target: RequestTarget, priority: Bool = false, wait: Bool = true,
                     _ body: @escaping @Sendable (EmulationThread) -> EMTStatus) throws(VMError) -> EMTStatus {
        let count = perVCPU.count
        let caller = group.currentEMT()
        switch target {
        case let .vcpu(id):
            guard id >= 0, id < count else { throw .invalidVCPU(id: id, count: count) }
            if let caller, caller.id == id { return body(caller) }
            return try queue(VMRequest(priority: priority, body: body), to: perVCPU[id], notify: [group.emts[id]],
                             wait: wait)
        case .any:
            if let caller { return body(caller) }
            return try queue(VMRequest(priority: priority, body: body), to: global, notify: group.emts, wait: wait)
        case .anyQueued:
            return try queue(VMRequest(priority: priority, body: body), to: global, notify: group.emts, wait: wait)
        case .all, .allReverse:
            var merged = EMTStatus.success
            let order = target == .all ? Array(0..<count) : Array((0..<count).reversed())
            for id in order {
                let status: EMTStatus
                if let caller, caller.id == id {
                    status = body(caller)
                } else {
                    status = try queue(VMRequest(priority: priority, body: body), to: perVCPU[id],
                                       notify: [group.emts[id]], wait: true)
                }
                merged = merged.merged(with: status)
            }
            return merged
        }
    }

    private func queue(_ request: VMRequest, to list: RequestList, notify emts: [EmulationThread],
                       wait: Bool) throws(VMError) -> EMTStatus {
        guard !closed.load(ordering: .sequentiallyConsistent) else { throw .emtsTerminated }
        request.outsideWaiter = wait && group.currentEMT() == nil
        request.serial = lastSerial.add(1, ordering: .relaxed).newValue
        list.push(request)
        if list === global {
            group.vmFlags.set(.request)
        } else {
            for emt in emts { emt.flags.set(.request) }
        }
        if closed.load(ordering: .sequentiallyConsistent) {
            // Raced with termination: complete whatever is left so nobody waits forever.
            failAllPending()
        }
        for emt in emts { emt.notify() }
        guard wait else { return .success }
        if request.outsideWaiter { awaited.withLock { _ = $0.insert(request.serial) } }
        defer { if request.outsideWaiter { awaited.withLock { _ = $0.remove(request.serial) } } }
        // Timed, as a safety net: a request not served within a second is reported with the EMT picture and
        // its EMTs are notified again (a lost notification then costs a second, not a VM that never answers).
        var waited = 0
        while !request.done.wait(timeoutNanoseconds: Self.requesterRecheckNanoseconds) {
            waited += 1
            requesterRechecks.add(1, ordering: .relaxed)
            if waited == 1 || waited % 60 == 0 {
                group.logger.error("internal: a request to the EMTs is not served after \(waited) s\n\(group.diagnostics())")
            }
            for emt in emts { emt.notify() }
        }
        let status = request.status
        if request.outsideWaiter { request.answered.store(true, ordering: .releasing) }
        return status
    }

    /// How long a requester waits before it looks at an unserved request again.
    static let requesterRecheckNanoseconds: UInt64 = 1_000_000_000

    /// Sets the request flag of every list that holds work for `emt` but lacks its flag (see
    /// `EmulationThread.recoverMissedWakeup`); true if one was missing.
    func reflagQueuedWork(for emt: EmulationThread) -> Bool {
        var missing = false
        if !group.vmFlags.isAnySet(.request), global.hasPending(priorityOnly: false) {
            group.vmFlags.set(.request)
            missing = true
        }
        if !emt.flags.isAnySet(.request), perVCPU[emt.id].hasPending(priorityOnly: false) {
            emt.flags.set(.request)
            missing = true
        }
        return missing
    }

    /// True if the global queue or `emt`'s own queue holds a request (`priorityOnly`: a priority one).
    func hasPending(for emt: EmulationThread, priorityOnly: Bool = false) -> Bool {
        if priorityOnly {
            return global.hasPending(priorityOnly: true) || perVCPU[emt.id].hasPending(priorityOnly: true)
        }
        return group.vmFlags.isAnySet(.request) || emt.flags.isAnySet(.request)
    }

    /// Serves requests on `emt`: priority ones first (global, then own), then — unless `priorityOnly` — normal
    /// ones, oldest first. Returns the merged informational status of what ran.
    @discardableResult
    func process(on emt: EmulationThread, priorityOnly: Bool) -> EMTStatus {
        let own = perVCPU[emt.id]
        if !priorityOnly {
            group.vmFlags.clear(.request)
            emt.flags.clear(.request)
        }
        var merged = EMTStatus.success
        while let request = global.pop(priorityOnly: true) ?? own.pop(priorityOnly: true)
            ?? (priorityOnly ? nil : global.pop(priorityOnly: false) ?? own.pop(priorityOnly: false)) {
            let outer = emt.currentRequest
            emt.currentRequest = request
            emt.lastTakenRequest.store(request.serial, ordering: .relaxed)
            request.status = request.body(emt)
            emt.currentRequest = outer
            merged = merged.merged(with: request.status.informationalPart)
            let handshake = request.outsideWaiter
            let afterAnswer = request.afterAnswer
            emt.lastAnsweredRequest.store(request.serial, ordering: .relaxed)
            request.done.post()
            if handshake {
                // Hold this EMT off the guest until the waiting thread runs: with every vCPU busy in the guest
                // on a small host, the woken requester would otherwise wait for the end of a scheduler slice
                // (milliseconds) before it sees its answer. Bounded, in case it is descheduled for long.
                // The requester only sets a flag: waking this EMT from it could preempt the requester at once.
                var slept: UInt64 = 0
                while !request.answered.load(ordering: .acquiring), slept < Self.acknowledgeTimeoutNanoseconds {
                    usleep(UInt32(Self.acknowledgePollNanoseconds / 1000))
                    slept += Self.acknowledgePollNanoseconds
                }
            }
            afterAnswer?()
        }
        if priorityOnly {
            // Normal requests stay queued; keep their flags so the loop serves them later.
            if global.hasPending(priorityOnly: false) { group.vmFlags.set(.request) }
            if own.hasPending(priorityOnly: false) { emt.flags.set(.request) }
        }
        return merged
    }

    /// Closes the queues and completes every pending request with `VMError.emtsTerminated`.
    func close() {
        closed.store(true, ordering: .sequentiallyConsistent)
        failAllPending()
    }

    private func failAllPending() {
        for list in [global] + perVCPU {
            for request in list.drainAll() {
                request.status = .failure(.emtsTerminated)
                request.done.post()
            }
        }
    }
}
