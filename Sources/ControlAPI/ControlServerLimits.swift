/// Bounds on what one client may send and how long it may take.
public struct ControlServerLimits: Sendable, Equatable {
    /// Largest accepted request body; a larger one is answered 413 and the connection closed.
    public var maxBodyBytes: Int
    /// A request must be complete (head and body) within this many milliseconds of the previous answer (or of
    /// the connection); otherwise it is answered 408 and the connection closed. Does not apply while an
    /// operation runs or to an `/events` stream.
    public var requestTimeoutMilliseconds: Int64
    /// Most simultaneous connections; more are closed at once.
    public var maxConnections: Int

    public init(maxBodyBytes: Int = 16 * 1024, requestTimeoutMilliseconds: Int64 = 10_000, maxConnections: Int = 64) {
        self.maxBodyBytes = maxBodyBytes
        self.requestTimeoutMilliseconds = requestTimeoutMilliseconds
        self.maxConnections = maxConnections
    }
}
