#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The JSON coders of the control API (server and client): sorted keys, snake_case names spelled out in each
/// type's `CodingKeys`.
enum ControlJSON {
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return Array(try encoder.encode(value))
        } catch {
            // Our own response types always encode; keep the API answering even if one did not.
            return Array(#"{"fault_message":"internal error: cannot encode the response"}"#.utf8)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// A one-line reason for a decoding failure (no type names, no coding paths of Swift internals).
    static func describe(_ error: any Error) -> String {
        switch error {
        case let DecodingError.dataCorrupted(context):
            return "the body is not valid JSON" + (context.codingPath.isEmpty ? "" : " at \(path(context.codingPath))")
        case let DecodingError.keyNotFound(key, _):
            return "missing key '\(key.stringValue)'"
        case let DecodingError.typeMismatch(_, context):
            return "wrong type at '\(path(context.codingPath))'"
        case let DecodingError.valueNotFound(_, context):
            return "null at '\(path(context.codingPath))'"
        default:
            return "the body is not valid JSON"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map(\.stringValue).joined(separator: ".")
    }
}
