/// A failure reported by a host helper or raised by a plugin, carrying the status code the host will see.
///
/// Throw it from any plugin callback; the SDK logs `message` under the instance's name and returns `status`.
public struct PluginError: Error, Sendable, CustomStringConvertible {
    /// The status returned to the host.
    public let status: PluginStatus
    /// What went wrong, naming the thing at fault (setting, LUN, port range…).
    public let message: String

    /// Creates an error with a status and a message.
    public init(_ status: PluginStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    /// `message (STATUS)`.
    public var description: String { "\(message) (\(status))" }
}

/// Maps any error thrown by plugin code to the status code returned to the host.
func pluginStatus(of error: any Error) -> PluginStatus {
    switch error {
    case let error as PluginError: error.status
    case let error as ConfigError: error.status
    default: .general
    }
}
