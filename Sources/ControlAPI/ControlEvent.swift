/// One line of `GET /events` (newline-delimited JSON). `type` says which fields are present:
/// - `state`: `state`, `previous`, `reason` (suspend reason) — every VM state transition;
/// - `progress`: `operation`, `elapsed_ms`, `passes`, `pending` — a power walk waiting for async instances;
/// - `guru_meditation`: `vcpu`, `reason` — a guest-visible fatal vCPU fault;
/// - `overflow`: the server dropped events for this slow client (`dropped`).
/// `seq` grows by one per event the server published (shared by all subscribers).
public struct ControlEvent: Codable, Sendable, Equatable {
    public var seq: UInt64
    /// Milliseconds since process start.
    public var timeMs: Double
    public var type: String
    public var state: String?
    public var previous: String?
    public var reason: String?
    public var operation: String?
    public var elapsedMs: Int64?
    public var passes: Int?
    public var pending: [String]?
    public var vcpu: Int?
    public var dropped: UInt64?

    public init(seq: UInt64 = 0, timeMs: Double = 0, type: String) {
        self.seq = seq
        self.timeMs = timeMs
        self.type = type
    }

    enum CodingKeys: String, CodingKey {
        case seq, type, state, previous, reason, operation, passes, pending, vcpu, dropped
        case timeMs = "time_ms"
        case elapsedMs = "elapsed_ms"
    }
}

extension ControlEvent {
    /// Decodes one line of the event stream.
    public init(jsonLine: String) throws {
        self = try ControlJSON.decode(ControlEvent.self, from: Array(jsonLine.utf8))
    }
}
