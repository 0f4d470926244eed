@testable import ControlAPI
import Glibc
import NIOHTTP1
import Synchronization
import Testing
import VMM
import Yams

/// `docs/api/openapi.yaml` stays true: every documented route answers with a documented status, every route
/// the server has is documented, and the documented required fields are in the answers.
@Suite(.serialized) struct OpenAPIDocumentTests {
    static var documentPath: String {
        // Tests/ControlAPITests/OpenAPIDocumentTests.swift → repository root.
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/docs/api/openapi.yaml"
    }

    static func loadDocument() throws -> [String: Any] {
        let text = try String(contentsOfFileAtPath: documentPath)
        return (try Yams.load(yaml: text) as? [String: Any]) ?? [:]
    }

    /// Valid bodies for the routes that need one (the test must not depend on the doc to produce them).
    static let bodies: [String: [UInt8]] = [
        "PATCH /vm": Array(#"{"state":"Paused"}"#.utf8),
        "PUT /actions": Array(#"{"action_type":"Reset"}"#.utf8),
    ]

    @Test func everyDocumentedRouteAnswersWithADocumentedStatus() throws {
        let doc = try Self.loadDocument()
        let paths = try #require(doc["paths"] as? [String: Any])
        #expect(!paths.isEmpty)
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        var checked = 0
        for (path, value) in paths.sorted(by: { $0.key < $1.key }) {
            let operations = try #require(value as? [String: Any])
            for (methodName, operation) in operations {
                let method = HTTPMethod(rawValue: methodName.uppercased())
                let responses = try #require((operation as? [String: Any])?["responses"] as? [String: Any])
                let documented = Set(responses.keys.compactMap { Int($0) })
                let client = try t.client()
                defer { client.close() }
                let status: Int
                if path == "/events" {
                    let first = Mutex<String?>(nil)
                    status = try client.followEvents(path: path) { line in
                        first.withLock { $0 = line }
                        return false
                    }.status
                    let line = try #require(first.withLock { $0 })
                    #expect(try ControlEvent(jsonLine: line).type == "state")
                } else {
                    status = try client.request(method, path, json: Self.bodies["\(method.rawValue) \(path)"]).status
                }
                #expect(documented.contains(status), "\(method.rawValue) \(path) answered \(status), documented \(documented)")
                #expect(status != 404 && status != 405, "\(method.rawValue) \(path) is documented but not served")
                checked += 1
            }
        }
        #expect(checked == 5)
    }

    @Test func everyServedRouteIsDocumented() throws {
        let paths = try #require(try Self.loadDocument()["paths"] as? [String: Any])
        for (path, methods) in ControlRoute.table {
            let documented = try #require(paths[path] as? [String: Any], "\(path) is served but not documented")
            for method in methods {
                #expect(documented[method.rawValue.lowercased()] != nil, "\(method.rawValue) \(path) not documented")
            }
        }
    }

    @Test func statusAnswerHasTheDocumentedRequiredFields() throws {
        let doc = try Self.loadDocument()
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        let client = try t.client()
        defer { client.close() }
        for (schema, path) in [("VMStatus", "/vm"), ("DeviceTree", "/devices")] {
            let required = try #require((schemas[schema] as? [String: Any])?["required"] as? [String])
            let body = try client.request(.GET, path).text
            let object = try #require(try Yams.load(yaml: body) as? [String: Any])
            for key in required { #expect(object[key] != nil, "\(path) lacks \(key)") }
            let documentedKeys = Set(((schemas[schema] as? [String: Any])?["properties"] as? [String: Any])?.keys
                .map { $0 } ?? [])
            for key in object.keys { #expect(documentedKeys.contains(key), "\(path) answers undocumented \(key)") }
        }
    }
}

extension String {
    fileprivate init(contentsOfFileAtPath path: String) throws {
        guard let file = fopen(path, "r") else { throw DocumentMissing(path: path) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        self = String(decoding: bytes, as: UTF8.self)
    }
}

struct DocumentMissing: Error { let path: String }
