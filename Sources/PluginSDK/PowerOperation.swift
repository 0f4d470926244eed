/// What a power callback that may go async (reset, suspend, power-off) tells the SDK.
public enum PowerResult: Sendable, Equatable {
    /// The work is done.
    case done
    /// The work continues elsewhere (e.g. on a worker thread). The SDK asks the host for more time with
    /// `setAsyncNotification`; call ``AsyncCompletion/complete()`` (from any thread) when the work is done.
    case pending
}

/// The power callbacks that may go async.
public enum PowerOperation: String, Sendable, CaseIterable {
    /// `reset`.
    case reset
    /// `suspend`.
    case suspend
    /// `powerOff`.
    case powerOff
}
