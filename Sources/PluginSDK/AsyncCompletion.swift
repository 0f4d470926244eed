import Synchronization

/// Completes one async power operation. Obtain it with ``DeviceContext/asyncCompletion()`` or
/// ``DriverContext/asyncCompletion()`` inside `reset`, `suspend` or `powerOff` before returning
/// ``PowerResult/pending``, hand it to the thread doing the work, and call ``complete()`` there.
///
/// A token only completes the operation it was obtained for: a late call for an earlier operation (one the host
/// gave up waiting for) does not complete a newer one. Calling it after the instance was destructed does nothing.
public struct AsyncCompletion: Sendable {
    let state: AsyncState
    let generation: UInt64

    /// Marks the operation done and wakes the host's walk, which then polls the instance again. Any thread; may
    /// be called more than once.
    public func complete() {
        state.complete(generation: generation)
    }
}

/// Per-instance bookkeeping of async power operations, shared by the instance's context, its completion tokens
/// and the host's poller.
final class AsyncState: Sendable {
    /// Generation of the operation most recently started (incremented before each reset/suspend/powerOff).
    private let started = Atomic<UInt64>(0)
    /// Highest generation completed.
    private let completed = Atomic<UInt64>(0)
    /// The instance, cleared at destruct so that late completions do not touch freed host memory.
    private let target: Mutex<InstanceRef?>
    /// The operation the host is polling for, if any (touched only on the walk thread, EMT 0).
    private let pending = Mutex<PowerOperation?>(nil)

    init(_ instance: InstanceRef) {
        target = Mutex(instance)
    }

    /// Starts a new operation; earlier tokens no longer complete anything.
    func begin() {
        started.add(1, ordering: .sequentiallyConsistent)
        pending.withLock { $0 = nil }
    }

    /// A token for the operation started last.
    func token() -> AsyncCompletion {
        AsyncCompletion(state: self, generation: started.load(ordering: .sequentiallyConsistent))
    }

    func complete(generation: UInt64) {
        var current = completed.load(ordering: .sequentiallyConsistent)
        while current < generation {
            let (exchanged, original) = completed.compareExchange(
                expected: current, desired: generation, ordering: .sequentiallyConsistent)
            if exchanged { break }
            current = original
        }
        target.withLock { $0?.asyncNotificationCompleted() }
    }

    /// Records that the host now polls for `operation`.
    func setPending(_ operation: PowerOperation) {
        pending.withLock { $0 = operation }
    }

    /// The poller's answer: `done` once the operation started last has completed; `finished` is the operation
    /// the host was polling for, returned once (the pending mark is then cleared).
    func poll() -> (done: Bool, finished: PowerOperation?) {
        let done = completed.load(ordering: .sequentiallyConsistent)
            >= started.load(ordering: .sequentiallyConsistent)
        guard done else { return (false, nil) }
        let finished = pending.withLock { operation in
            defer { operation = nil }
            return operation
        }
        return (true, finished)
    }

    /// Destruct: later completions only record, they no longer call the host.
    func detach() {
        target.withLock { $0 = nil }
    }
}
