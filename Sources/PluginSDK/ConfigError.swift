/// A problem with an instance's `settings`, thrown by ``Configuration``. Every case names the setting at fault;
/// the SDK turns it into the matching status code when a callback throws it.
public enum ConfigError: Error, Sendable, CustomStringConvertible {
    /// A required setting is absent (`VMH_ERR_NOT_FOUND`).
    case missing(key: String)
    /// The setting has another type than the one asked for (`VMH_ERR_WRONG_TYPE`).
    case wrongType(key: String, expected: String)
    /// A string setting is longer than the SDK accepts (`VMH_ERR_BUFFER_TOO_SMALL`).
    case tooLong(key: String)
    /// The setting has the right type but a bad value (`VMH_ERR_INVALID_VALUE`). When a callback throws this,
    /// the SDK also reports it to the host with `cfgError`, which records it against the setting's key path.
    case invalidValue(key: String, message: String)
    /// The settings hold a key that is not in `allowed` (`VMH_ERR_UNKNOWN_CONFIG_KEY`); the host's log names it.
    case unknownKey(allowed: [String])
    /// The host failed the query of `key` with another status.
    case host(key: String, status: PluginStatus)

    /// The status code the host sees when a callback throws this error.
    public var status: PluginStatus {
        switch self {
        case .missing: .notFound
        case .wrongType: .wrongType
        case .tooLong: .bufferTooSmall
        case .invalidValue: .invalidValue
        case .unknownKey: .unknownConfigKey
        case .host(_, let status): status
        }
    }

    /// One line naming the setting.
    public var description: String {
        switch self {
        case .missing(let key): "setting '\(key)' is required but absent"
        case .wrongType(let key, let expected): "setting '\(key)' must be \(expected)"
        case .tooLong(let key): "setting '\(key)' is too long"
        case .invalidValue(let key, let message): "setting '\(key)': \(message)"
        case .unknownKey(let allowed):
            "settings hold an unknown key (allowed: \(allowed.isEmpty ? "none" : allowed.joined(separator: ", ")))"
        case .host(let key, let status): "setting '\(key)' could not be read (\(status))"
        }
    }
}
