import Synchronization

/// How the EMTs run the callback of a rendezvous. All types first wait until every EMT has arrived, so no guest
/// code runs while any callback runs.
public enum RendezvousType: Sendable, CaseIterable {
    /// Exactly one EMT (the last to arrive) runs the callback.
    case once
    /// Every EMT in turn, one at a time, in arrival order.
    case oneByOne
    /// Every EMT at the same time.
    case allAtOnce
    /// One at a time, EMT 0 → EMT N-1.
    case ascending
    /// One at a time, EMT N-1 → EMT 0.
    case descending
}

/// Options of a rendezvous.
public struct RendezvousOptions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Once a callback failed, later EMTs skip the callback (they still pass through). Not with `once` or
    /// `allAtOnce`.
    public static let stopOnError = RendezvousOptions(rawValue: 1 << 0)
    /// A non-EMT caller is forwarded with a priority request.
    public static let priority = RendezvousOptions(rawValue: 1 << 1)
}

/// One rendezvous from start to the last EMT leaving.
final class RendezvousRound: @unchecked Sendable {
    let generation: UInt64
    let type: RendezvousType
    let stopOnError: Bool
    let body: @Sendable (EmulationThread) -> EMTStatus
    /// Forwarded for an outside requester: after the callbacks, every EMT but the initiator stays in the round
    /// until the requester has its answer (then `release` lets them go), so none of them occupies a CPU in the
    /// guest while the requester needs one.
    let holdForRequester: Bool
    let initiator: Int
    // Guarded by Rendezvous.state's lock.
    var arrivals: [Int] = []
    var order: [Int] = []
    var doneCount = 0
    var leftCount = 0
    var status = EMTStatus.success
    var failed = false
    /// Threads waiting on `finished` (the initiator, plus EMTs that want to start a rendezvous of their own).
    var finishWaiters: Int
    let finished = ThreadSemaphore()

    init(generation: UInt64, type: RendezvousType, stopOnError: Bool, holdForRequester: Bool, initiator: Int,
         body: @escaping @Sendable (EmulationThread) -> EMTStatus) {
        self.generation = generation
        self.type = type
        self.stopOnError = stopOnError
        self.holdForRequester = holdForRequester
        self.initiator = initiator
        self.finishWaiters = holdForRequester ? 0 : 1
        self.body = body
    }
}

/// EMT rendezvous: every EMT stops what it does and the callback runs on one, each in turn, or all of them.
///
/// A non-EMT caller is forwarded to an EMT with a request and blocks until every EMT left; an EMT caller
/// initiates directly (joining any rendezvous another EMT started first); a nested rendezvous is refused. Nobody
/// spins: every wait is on a semaphore.
public final class Rendezvous: @unchecked Sendable {
    private struct State {
        var current: RendezvousRound?
        var nextGeneration: UInt64 = 1
    }

    unowned(unsafe) let group: EMTGroup
    private let state = Mutex(State())

    init(group: EMTGroup) {
        self.group = group
    }

    /// The round in progress, for diagnostics.
    var roundDescription: String {
        state.withLock { state in
            guard let round = state.current else { return "none (next generation \(state.nextGeneration))" }
            return "generation \(round.generation) \(round.type) initiated by EMT \(round.initiator)"
                + "\(round.holdForRequester ? " for an outside requester" : ""): arrivals \(round.arrivals), "
                + "done \(round.doneCount), left \(round.leftCount), finish waiters \(round.finishWaiters)"
        }
    }

    /// Runs `body` on the EMTs as `type` says and returns the merged status (first failure, else the most
    /// important informational code). Any thread; see the type's documentation.
    public func run(_ type: RendezvousType, options: RendezvousOptions = [],
                    _ body: @escaping @Sendable (EmulationThread) -> EMTStatus) throws(VMError) -> EMTStatus {
        if options.contains(.stopOnError), type == .once || type == .allAtOnce {
            throw .invalidRendezvousFlags("stop-on-error is meaningless with \(type)")
        }
        guard group.currentEMT() != nil else {
            let result = try group.requests.call(.any, priority: options.contains(.priority), wait: true) { emt in
                do throws(VMError) {
                    let hold = emt.currentRequest?.outsideWaiter == true
                    return try self.run(type, options: options, holdForRequester: hold, body)
                } catch {
                    return .failure(error)
                }
            }
            return result
        }
        return try run(type, options: options, holdForRequester: false, body)
    }

    private func run(_ type: RendezvousType, options: RendezvousOptions, holdForRequester: Bool,
                     _ body: @escaping @Sendable (EmulationThread) -> EMTStatus) throws(VMError) -> EMTStatus {
        guard let emt = group.currentEMT() else { throw .callbackFailed("internal: rendezvous run off an EMT") }
        guard !emt.inRendezvous else { throw .rendezvousRecursion(vcpu: emt.id) }
        if group.emts.count == 1 {
            emt.inRendezvous = true
            defer { emt.inRendezvous = false }
            return body(emt)
        }
        while true {
            enum Step { case initiate(RendezvousRound), join, waitFinished(RendezvousRound) }
            let step: Step = state.withLock { state in
                if let current = state.current {
                    if current.generation == emt.lastRendezvousGeneration {
                        current.finishWaiters += 1
                        return .waitFinished(current)
                    }
                    return .join
                }
                let round = RendezvousRound(generation: state.nextGeneration, type: type,
                                            stopOnError: options.contains(.stopOnError),
                                            holdForRequester: holdForRequester, initiator: emt.id, body: body)
                state.nextGeneration += 1
                state.current = round
                group.vmFlags.set(.rendezvous)
                return .initiate(round)
            }
            switch step {
            case .join:
                joinPending(emt)
            case let .waitFinished(round):
                round.finished.wait()
            case let .initiate(round):
                for other in group.emts where other !== emt { other.notify() }
                participate(emt, in: round)
                if round.holdForRequester {
                    // The others wait in the round; let them go once the requester has the answer.
                    let release = { @Sendable [emts = group.emts] in
                        for other in emts where other !== emt { other.rendezvousSemaphore.post() }
                    }
                    if let request = emt.currentRequest { request.afterAnswer = release } else { release() }
                    return state.withLock { _ in round.status }
                }
                round.finished.wait()
                return round.status
            }
        }
    }

    /// Called by an EMT that saw the rendezvous force action: joins the current round unless it already did.
    func joinPending(_ emt: EmulationThread) {
        let round: RendezvousRound? = state.withLock { state in
            guard let current = state.current, current.generation != emt.lastRendezvousGeneration else { return nil }
            return current
        }
        if let round { _ = participate(emt, in: round) }
    }

    /// One EMT's passage through `round`. Returns the informational part of the merged status.
    @discardableResult
    private func participate(_ emt: EmulationThread, in round: RendezvousRound) -> EMTStatus {
        emt.lastRendezvousGeneration = round.generation
        emt.inRendezvous = true
        defer { emt.inRendezvous = false }
        let emts = group.emts
        let count = emts.count

        let isLast: Bool = state.withLock { _ in
            round.arrivals.append(emt.id)
            guard round.arrivals.count == count else { return false }
            group.vmFlags.clear(.rendezvous)
            switch round.type {
            case .ascending: round.order = Array(0..<count)
            case .descending: round.order = Array((0..<count).reversed())
            case .oneByOne: round.order = round.arrivals
            case .once, .allAtOnce: break
            }
            return true
        }

        switch round.type {
        case .once:
            if isLast {
                let status = round.body(emt)
                state.withLock { _ in round.status = round.status.merged(with: status) }
                for other in emts where other !== emt { other.rendezvousSemaphore.post() }
            } else {
                emt.rendezvousSemaphore.wait()
            }

        case .allAtOnce:
            if isLast {
                for other in emts where other !== emt { other.rendezvousSemaphore.post() }
            } else {
                emt.rendezvousSemaphore.wait()
            }
            let status = round.body(emt)
            let allDone: Bool = state.withLock { _ in
                round.status = round.status.merged(with: status)
                round.doneCount += 1
                return round.doneCount == count
            }
            if allDone {
                for other in emts where other !== emt { other.rendezvousSemaphore.post() }
            } else {
                emt.rendezvousSemaphore.wait()
            }

        case .oneByOne, .ascending, .descending:
            // The order is fixed by the last arrival, before anyone is released.
            if isLast {
                let first = round.order[0]
                if first != emt.id {
                    emts[first].rendezvousSemaphore.post()
                    emt.rendezvousSemaphore.wait()
                }
            } else {
                emt.rendezvousSemaphore.wait()
            }
            let skip = state.withLock { _ in round.stopOnError && round.failed }
            if !skip {
                let status = round.body(emt)
                state.withLock { _ in
                    round.status = round.status.merged(with: status)
                    if status.isFailure { round.failed = true }
                }
            }
            let position = round.order.firstIndex(of: emt.id) ?? (count - 1)
            if position < count - 1 {
                emts[round.order[position + 1]].rendezvousSemaphore.post()
                emt.rendezvousSemaphore.wait()  // the "all done" release
            } else {
                for other in emts where other !== emt { other.rendezvousSemaphore.post() }
            }
        }

        if round.holdForRequester, emt.id != round.initiator {
            emt.rendezvousSemaphore.wait()  // released after the outside requester has its answer
        }

        let (finishedPosts, status): (Int, EMTStatus) = state.withLock { state in
            round.leftCount += 1
            guard round.leftCount == count else { return (0, round.status) }
            state.current = nil
            return (round.finishWaiters, round.status)
        }
        for _ in 0..<finishedPosts { round.finished.post() }
        return status.informationalPart
    }
}
