/// The body of every error answer (Firecracker convention): `{"fault_message": "..."}`.
public struct ControlFault: Codable, Sendable, Equatable {
    /// What went wrong, naming the VM state, the route or the offending part of the request.
    public var faultMessage: String

    public init(_ message: String) { faultMessage = message }

    enum CodingKeys: String, CodingKey { case faultMessage = "fault_message" }
}
