/// A configuration problem. `keyPath` names the offending key exactly, e.g.
/// `devices[1].luns[0].driver.below.settings.path`; the description reads `<keyPath>: <message>`.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is (`devices[1].luns[0].driver.name`), or a source label such as `--device` or `yaml`.
    public var keyPath: String
    /// What is wrong, e.g. `expected a string, got a list`.
    public var message: String

    public init(keyPath: String, message: String) {
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String { keyPath.isEmpty ? message : "\(keyPath): \(message)" }
}
