/// `PATCH /vm` body: `{"state": "Paused"}` or `{"state": "Resumed"}`.
public struct VMStatePatch: Codable, Sendable, Equatable {
    /// The wanted state.
    public enum TargetState: String, Codable, Sendable, CaseIterable {
        case paused = "Paused"
        case resumed = "Resumed"
    }

    public var state: String

    public init(state: TargetState) { self.state = state.rawValue }
}

/// `PUT /actions` body: `{"action_type": "PowerOff"}` or `{"action_type": "Reset"}`.
public struct VMAction: Codable, Sendable, Equatable {
    /// The actions the API knows.
    public enum ActionType: String, Codable, Sendable, CaseIterable {
        case powerOff = "PowerOff"
        case reset = "Reset"
    }

    public var actionType: String

    public init(_ type: ActionType) { actionType = type.rawValue }

    enum CodingKeys: String, CodingKey { case actionType = "action_type" }
}
