import Synchronization

/// The VM state with an enforced transition table (`VMState.allowedTransitions`), state listeners and the
/// suspend reason. Any thread may read; transitions are made by EMTs inside the operation rendezvous.
public final class VMStateMachine: @unchecked Sendable {
    /// Called on the thread making the transition, in registration order, with the state lock held: a listener
    /// must not change the VM state (it would deadlock) and should return quickly.
    public typealias Listener = @Sendable (_ newState: VMState, _ oldState: VMState) -> Void

    /// Identifies a registered listener for `removeListener`.
    public struct ListenerToken: Hashable, Sendable { fileprivate let id: UInt64 }

    private struct Inner {
        var state: VMState
        var previous: VMState
        var suspendReason: VMSuspendReason?
        var listeners: [(id: UInt64, call: Listener)] = []
        var nextListenerID: UInt64 = 1
    }

    private let inner: Mutex<Inner>
    private let mirror: Atomic<UInt8>
    private static let states = VMState.allCases

    /// A state machine starting in `initial` (`creating` for a new VM; tests may start anywhere).
    public init(initial: VMState = .creating) {
        inner = Mutex(Inner(state: initial, previous: initial))
        mirror = Atomic(Self.index(of: initial))
    }

    private static func index(of state: VMState) -> UInt8 {
        UInt8(states.firstIndex(of: state) ?? 0)
    }

    /// The current state (lock-free read; the EMT loop reads this between guest runs).
    public var state: VMState { Self.states[Int(mirror.load(ordering: .sequentiallyConsistent))] }

    /// The state before the last transition.
    public var previousState: VMState { inner.withLock { $0.previous } }

    /// The reason of the last suspend (nil if never suspended or after a resume).
    public var suspendReason: VMSuspendReason? { inner.withLock { $0.suspendReason } }

    /// Moves to `next` if the table allows it from the current state; else `VMError.invalidTransition` naming
    /// the current state, `next` and `who`. Returns the old state.
    @discardableResult
    public func transition(to next: VMState, requestedBy who: String) throws(VMError) -> VMState {
        try transition(choices: [(from: state, to: next)], operation: nil, requestedBy: who, validateAll: true)
    }

    /// Applies the first `(from, to)` pair whose `from` is the current state (each pair must be in the table).
    /// None matches → `VMError.invalidState(operation, current)`. Returns the old state.
    @discardableResult
    public func transition(_ pairs: [(from: VMState, to: VMState)], for operation: VMOperation,
                           suspendReason: VMSuspendReason? = nil) throws(VMError) -> VMState {
        try transition(choices: pairs, operation: operation, requestedBy: operation.rawValue,
                       validateAll: false, suspendReason: suspendReason)
    }

    private func transition(choices: [(from: VMState, to: VMState)], operation: VMOperation?,
                            requestedBy who: String, validateAll: Bool,
                            suspendReason: VMSuspendReason? = nil) throws(VMError) -> VMState {
        let result: Result<VMState, VMError> = inner.withLock { inner in
            let current = inner.state
            guard let pair = choices.first(where: { $0.from == current }) else {
                if let operation { return .failure(.invalidState(operation: operation, current: current)) }
                let to = choices.first?.to ?? current
                return .failure(.invalidTransition(from: current, to: to, requestedBy: who))
            }
            guard current.canTransition(to: pair.to) else {
                return .failure(.invalidTransition(from: current, to: pair.to, requestedBy: who))
            }
            inner.previous = current
            inner.state = pair.to
            if pair.to == .suspending { inner.suspendReason = suspendReason ?? .user }
            if pair.to == .running { inner.suspendReason = nil }
            mirror.store(Self.index(of: pair.to), ordering: .sequentiallyConsistent)
            for listener in inner.listeners { listener.call(pair.to, current) }
            return .success(current)
        }
        return try result.get()
    }

    /// Registers `listener` (appended: listeners are called in registration order).
    @discardableResult
    public func addListener(_ listener: @escaping Listener) -> ListenerToken {
        inner.withLock { inner in
            let id = inner.nextListenerID
            inner.nextListenerID += 1
            inner.listeners.append((id: id, call: listener))
            return ListenerToken(id: id)
        }
    }

    /// Removes a listener; false if the token is unknown.
    @discardableResult
    public func removeListener(_ token: ListenerToken) -> Bool {
        inner.withLock { inner in
            guard let index = inner.listeners.firstIndex(where: { $0.id == token.id }) else { return false }
            inner.listeners.remove(at: index)
            return true
        }
    }

    /// Blocks the calling thread (not an EMT that must take part in the transition!) until the state satisfies
    /// `predicate`, or `timeoutNanoseconds` passed (nil: forever). Returns the state seen, nil on timeout.
    public func waitUntil(timeoutNanoseconds: UInt64? = nil,
                          _ predicate: @escaping @Sendable (VMState) -> Bool) -> VMState? {
        let semaphore = ThreadSemaphore()
        let matched = Mutex<VMState?>(nil)
        let token = addListener { new, _ in
            guard predicate(new) else { return }
            let first = matched.withLock { box in
                defer { if box == nil { box = new } }
                return box == nil
            }
            if first { semaphore.post() }
        }
        defer { removeListener(token) }
        let now = state
        if predicate(now) { return now }
        if let timeoutNanoseconds {
            guard semaphore.wait(timeoutNanoseconds: timeoutNanoseconds) else { return nil }
        } else {
            semaphore.wait()
        }
        return matched.withLock { $0 }
    }
}
