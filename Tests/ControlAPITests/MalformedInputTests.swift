import ControlAPI
import Glibc
import Testing
import VMM

/// Malformed, oversized, truncated and wrong requests: each gets a 4xx with a reason, the VM never notices,
/// and the server keeps serving other clients.
@Suite(.serialized) struct MalformedInputTests {
    private func raw(_ t: APITestVM, _ text: String) throws -> ControlClient.Response? {
        let client = try ControlClient.connect(socketPath: t.socketPath, raw: true)
        defer { client.close() }
        return try client.sendRaw(Array(text.utf8))
    }

    private func expectVMUndisturbed(_ t: APITestVM, runsBefore: Int) throws {
        #expect(t.vm.state == .running)
        let client = try t.client()
        defer { client.close() }
        #expect(try client.request(.GET, "/vm").status == 200)
        // The vCPUs kept running through it.
        for _ in 0..<200 where t.totalRuns <= runsBefore { usleep(1_000) }
        #expect(t.totalRuns > runsBefore)
    }

    @Test func garbageRequestLineIs400WithTheParserReason() throws {
        let t = try APITestVM()
        defer { t.shutdown() }
        let before = t.totalRuns
        let response = try raw(t, "THIS IS NOT HTTP\r\n\r\n")
        #expect(response?.status == 400)
        #expect(response?.faultMessage?.hasPrefix("malformed HTTP request") == true)
        #expect(response?.header("Connection") == "close")
        try expectVMUndisturbed(t, runsBefore: before)
    }

    @Test func badHeaderIs400() throws {
        let t = try APITestVM()
        defer { t.shutdown() }
        let response = try raw(t, "GET /vm HTTP/1.1\r\nHost localhost\r\n\r\n")
        #expect(response?.status == 400)
        #expect(response?.faultMessage?.hasPrefix("malformed HTTP request") == true)
    }

    @Test func truncatedRequestTimesOutWith408() throws {
        let t = try APITestVM(limits: ControlServerLimits(requestTimeoutMilliseconds: 200))
        defer { t.shutdown() }
        let before = t.totalRuns
        // Head complete, body promised but never sent.
        let body = try raw(t, "PATCH /vm HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{\"state\":")
        #expect(body?.status == 408)
        #expect(body?.faultMessage?.contains("request body did not arrive") == true)
        // Head itself cut off.
        let head = try raw(t, "GET /vm HTTP/1.1\r\nHo")
        #expect(head?.status == 408)
        #expect(head?.faultMessage?.contains("no complete request head") == true)
        #expect(t.vm.state == .running)
        try expectVMUndisturbed(t, runsBefore: before)
    }

    @Test func oversizedBodyIs413AndOversizedHeadIs400() throws {
        let t = try APITestVM(limits: ControlServerLimits(maxBodyBytes: 1024))
        defer { t.shutdown() }
        let before = t.totalRuns
        let big = String(repeating: " ", count: 4096)
        let response = try raw(t, "PATCH /vm HTTP/1.1\r\nHost: x\r\nContent-Length: \(big.utf8.count + 18)\r\n\r\n"
            + "{\"state\":\"Paused\"\(big)}")
        #expect(response?.status == 413)
        #expect(response?.faultMessage == "request body larger than 1024 bytes")
        let hugeHeader = String(repeating: "a", count: 200_000)
        let head = try raw(t, "GET /vm HTTP/1.1\r\nX-Big: \(hugeHeader)\r\n\r\n")
        #expect(head?.status == 400)
        #expect(t.vm.state == .running)
        try expectVMUndisturbed(t, runsBefore: before)
    }

    @Test func badJSONMissingKeysWrongTypesAndUnknownValuesAre400() throws {
        let t = try APITestVM()
        defer { t.shutdown() }
        let client = try t.client()
        defer { client.close() }
        let cases: [(String, String, [UInt8]?, String)] = [
            ("/vm", "PATCH", Array("{\"state\": \"Paused\"".utf8), "PATCH /vm: the body is not valid JSON"),
            ("/vm", "PATCH", Array("{\"status\": \"Paused\"}".utf8), "PATCH /vm: missing key 'state'"),
            ("/vm", "PATCH", Array("{\"state\": 3}".utf8), "PATCH /vm: wrong type at 'state'"),
            ("/vm", "PATCH", Array("{\"state\": \"Sleeping\"}".utf8),
             "PATCH /vm: unknown state 'Sleeping' (expected Paused or Resumed)"),
            ("/vm", "PATCH", nil, "PATCH /vm needs a JSON body {\"state\": \"Paused\"} or {\"state\": \"Resumed\"}"),
            ("/actions", "PUT", Array("{\"action_type\": \"Explode\"}".utf8),
             "PUT /actions: unknown action_type 'Explode' (expected PowerOff or Reset)"),
            ("/actions", "PUT", Array("[1,2]".utf8), "PUT /actions: wrong type at ''"),
        ]
        for (path, method, body, message) in cases {
            let response = try client.request(method == "PUT" ? .PUT : .PATCH, path, json: body)
            #expect(response.status == 400, "\(method) \(path)")
            #expect(response.faultMessage == message)
        }
        #expect(t.vm.state == .running)
        // The same keep-alive connection still works.
        #expect(try client.request(.GET, "/vm").status == 200)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let t = try APITestVM()
        defer { t.shutdown() }
        let client = try ControlClient.connect(socketPath: t.socketPath, raw: true)
        defer { client.close() }
        // A pause and, in the same write, a GET: the GET waits for the pause and sees "suspended".
        let pause = "PATCH /vm HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n{\"state\":\"Paused\"}"
        let answers = try client.sendRaw(Array((pause + "GET /vm HTTP/1.1\r\nHost: x\r\n\r\n").utf8), answers: 2)
        #expect(answers.map(\.status) == [204, 200])
        #expect(try answers.last?.decode(VMStatusResponse.self).state == "suspended")
        #expect(t.vm.state == .suspended)
    }
}
