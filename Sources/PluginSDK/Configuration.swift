/// Typed access to an instance's `settings` map (the `cfg*` helpers).
///
/// Read settings in `init(context:)`; every failure is a ``ConfigError`` naming the key. A typical device:
/// ```swift
/// try context.config.validate(keys: ["iobase", "irq"])
/// let base = try context.config.integer("iobase", as: UInt16.self, default: 0x3f8)
/// ```
public struct Configuration: Sendable {
    let instance: InstanceRef

    /// The longest string setting the SDK reads, in bytes.
    public static let maximumStringLength = 64 * 1024

    /// Fails with ``ConfigError/unknownKey(allowed:)`` when the settings hold a key not in `keys` (the host logs
    /// which key, with its path).
    public func validate(keys: [String]) throws(ConfigError) {
        let status = keys.joined(separator: "|").withCString { instance.cfgValidate($0) }
        switch status {
        case VMH_OK: return
        case VMH_ERR_UNKNOWN_CONFIG_KEY: throw .unknownKey(allowed: keys)
        default: throw .host(key: keys.joined(separator: "|"), status: PluginStatus(rawValue: status))
        }
    }

    /// True when the setting `key` is present (of any type).
    public func contains(_ key: String) -> Bool {
        var value: Int64 = 0
        // An integer query answers NOT_FOUND only for an absent key (WRONG_TYPE for a present non-integer).
        return key.withCString { instance.cfgQueryInteger($0, &value) } != VMH_ERR_NOT_FOUND
    }

    // MARK: Strings

    /// The string setting `key`, or nil when it is absent.
    public func optionalString(_ key: String) throws(ConfigError) -> String? {
        var capacity = 256
        while true {
            let result: Result<String?, ConfigError> = key.withCString { cKey in
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
                defer { buffer.deallocate() }
                let status = instance.cfgQueryString(cKey, buffer, capacity)
                switch status {
                case VMH_OK: return .success(String(cString: buffer))
                case VMH_ERR_NOT_FOUND: return .success(nil)
                case VMH_ERR_WRONG_TYPE: return .failure(.wrongType(key: key, expected: "a string"))
                case VMH_ERR_BUFFER_TOO_SMALL: return .failure(.tooLong(key: key))
                default: return .failure(.host(key: key, status: PluginStatus(rawValue: status)))
                }
            }
            switch result {
            case .success(let value): return value
            case .failure(.tooLong) where capacity < Self.maximumStringLength: capacity *= 4
            case .failure(let error): throw error
            }
        }
    }

    /// The string setting `key`; throws ``ConfigError/missing(key:)`` when absent.
    public func string(_ key: String) throws(ConfigError) -> String {
        guard let value = try optionalString(key) else { throw .missing(key: key) }
        return value
    }

    /// The string setting `key`, or `defaultValue` when absent.
    public func string(_ key: String, default defaultValue: String) throws(ConfigError) -> String {
        try optionalString(key) ?? defaultValue
    }

    /// The string setting `key`, which must be one of `choices` (else ``ConfigError/invalidValue(key:message:)``);
    /// `defaultValue` when absent.
    public func string(_ key: String, default defaultValue: String, oneOf choices: [String]) throws(ConfigError)
        -> String
    {
        let value = try string(key, default: defaultValue)
        guard choices.contains(value) else {
            throw .invalidValue(key: key, message: "'\(value)' is not one of \(choices.joined(separator: ", "))")
        }
        return value
    }

    // MARK: Integers

    /// The integer setting `key` (decimal or 0x-hex in the configuration), or nil when it is absent.
    public func optionalInteger(_ key: String) throws(ConfigError) -> Int64? {
        var value: Int64 = 0
        let status = key.withCString { instance.cfgQueryInteger($0, &value) }
        switch status {
        case VMH_OK: return value
        case VMH_ERR_NOT_FOUND: return nil
        case VMH_ERR_WRONG_TYPE: throw .wrongType(key: key, expected: "an integer")
        default: throw .host(key: key, status: PluginStatus(rawValue: status))
        }
    }

    /// The integer setting `key`; throws ``ConfigError/missing(key:)`` when absent.
    public func integer(_ key: String) throws(ConfigError) -> Int64 {
        guard let value = try optionalInteger(key) else { throw .missing(key: key) }
        return value
    }

    /// The integer setting `key`, or `defaultValue` when absent.
    public func integer(_ key: String, default defaultValue: Int64) throws(ConfigError) -> Int64 {
        try optionalInteger(key) ?? defaultValue
    }

    /// The integer setting `key` converted to `T` and checked against `range` (the full range of `T` when nil);
    /// `defaultValue` when absent. A value that does not fit throws ``ConfigError/invalidValue(key:message:)``.
    public func integer<T: FixedWidthInteger & Sendable>(
        _ key: String, as type: T.Type, default defaultValue: T, in range: ClosedRange<T>? = nil
    ) throws(ConfigError) -> T {
        guard let raw = try optionalInteger(key) else { return defaultValue }
        let bounds = range ?? T.min...T.max
        guard let value = T(exactly: raw), bounds.contains(value) else {
            throw .invalidValue(key: key, message: "\(raw) is outside \(bounds.lowerBound)...\(bounds.upperBound)")
        }
        return value
    }

    // MARK: Booleans

    /// The boolean setting `key`, or nil when it is absent.
    public func optionalBool(_ key: String) throws(ConfigError) -> Bool? {
        var value = false
        let status = key.withCString { instance.cfgQueryBool($0, &value) }
        switch status {
        case VMH_OK: return value
        case VMH_ERR_NOT_FOUND: return nil
        case VMH_ERR_WRONG_TYPE: throw .wrongType(key: key, expected: "a boolean")
        default: throw .host(key: key, status: PluginStatus(rawValue: status))
        }
    }

    /// The boolean setting `key`; throws ``ConfigError/missing(key:)`` when absent.
    public func bool(_ key: String) throws(ConfigError) -> Bool {
        guard let value = try optionalBool(key) else { throw .missing(key: key) }
        return value
    }

    /// The boolean setting `key`, or `defaultValue` when absent.
    public func bool(_ key: String, default defaultValue: Bool) throws(ConfigError) -> Bool {
        try optionalBool(key) ?? defaultValue
    }
}
