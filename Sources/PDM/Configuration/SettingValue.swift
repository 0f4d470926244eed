/// One value of an instance's `settings:` map: a string, an integer (decimal or `0x…` hex in the file) or a bool.
public enum SettingValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int64)
    case bool(Bool)

    /// The value's kind as an error message names it ("a string", "an integer", "a bool").
    public var kindDescription: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .bool: return "a bool"
        }
    }

    public var description: String {
        switch self {
        case .string(let s): return s
        case .integer(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        }
    }

    /// Interprets an unquoted word the way the configuration file and the command line do: `true`/`false` are
    /// bools, decimal or `0x…` numbers (with an optional sign) are integers, anything else is a string.
    public static func inferred(from word: String) -> SettingValue {
        switch word {
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if let i = parseInteger(word) { return .integer(i) }
        return .string(word)
    }

    /// Parses `123`, `-5`, `0x1f`, `0X1F` (optionally with a sign and `_` separators); nil for anything else.
    public static func parseInteger(_ word: String) -> Int64? {
        var text = Substring(word)
        var negative = false
        if let first = text.first, first == "-" || first == "+" {
            negative = first == "-"
            text = text.dropFirst()
        }
        var radix = 10
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            radix = 16
            text = text.dropFirst(2)
        }
        let digits = text.filter { $0 != "_" }
        guard !digits.isEmpty, let magnitude = UInt64(digits, radix: radix) else { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }
}

/// The `settings:` map of a device or driver instance.
public typealias Settings = [String: SettingValue]
