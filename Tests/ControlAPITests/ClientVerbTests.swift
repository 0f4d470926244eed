import ControlAPI
import Foundation
import Testing
import TestSupport
import VMM

/// The `vmhost` client verbs, run as the real executable (from the build products folder) against a server in
/// this process: exit 0 and a readable line on success, non-zero with the server's message otherwise, `--json`.
@Suite(.serialized) struct ClientVerbTests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static var executable: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("vmhost").path
    }

    func vmhost(_ arguments: [String]) throws -> Run {
        let outcome = try ChildProcess.run([Self.executable] + arguments, timeout: 60)
        return Run(status: outcome.status, stdout: outcome.output, stderr: outcome.errors)
    }

    @Test func verbsSucceedAndReportTheOutcome() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.executable), "vmhost not built next to the tests")
        let t = try APITestVM(vcpus: 2)
        defer { t.shutdown() }
        let socket = ["--api-socket", t.socketPath]

        let pause = try vmhost(["pause"] + socket)
        #expect(pause.status == 0)
        #expect(pause.stdout == "VM suspended\n")
        #expect(t.vm.state == .suspended)
        let again = try vmhost(["pause", "--json"] + socket)
        #expect(again.status == 0)
        #expect(again.stdout == "{\"outcome\":\"already-suspended\"}\n")

        let status = try vmhost(["status"] + socket)
        #expect(status.status == 0)
        #expect(status.stdout.hasPrefix("state:   suspended (user)\nvcpus:   2\n"))
        let statusJSON = try vmhost(["status", "--json"] + socket)
        #expect(try decodeStatus(statusJSON.stdout).state == "suspended")

        let devices = try vmhost(["devices"] + socket)
        #expect(devices.status == 0)
        #expect(devices.stdout.contains("Stub/0 [Stub, order"))
        #expect(devices.stdout.contains("LUN 0: StubDriver/0 -> StubDriver/1"))

        #expect(try vmhost(["resume"] + socket).stdout == "VM running\n")
        #expect(t.vm.state == .running)
        #expect(try vmhost(["reset"] + socket).stdout == "VM reset\n")
        #expect(try vmhost(["poweroff"] + socket).stdout == "VM powered off\n")
        #expect(t.vm.state == .off)
    }

    @Test func failuresExitNonZeroWithTheServersMessage() throws {
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        let socket = ["--api-socket", t.socketPath]
        try t.vm.powerOff()
        let resume = try vmhost(["resume"] + socket)
        #expect(resume.status == 1)
        #expect(resume.stderr == "vmhost: cannot resume: the VM is off\n")
        let json = try vmhost(["resume", "--json"] + socket)
        #expect(json.status == 1)
        #expect(json.stdout == "{\"fault_message\":\"cannot resume: the VM is off\"}\n")
        let missing = try vmhost(["status", "--api-socket", t.directory + "/nothing.sock"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("cannot connect to \(t.directory)/nothing.sock"))
    }

    @Test func eventsFollowsTheStreamUntilTheServerGoesAway() throws {
        let t = try APITestVM(vcpus: 1)
        let process = try ChildProcess([Self.executable, "events", "--json", "--api-socket", t.socketPath])
        // Wait until it is subscribed, then change the state and stop the server.
        #expect(waitUntil { t.server.eventSubscriberCount == 1 })
        try t.vm.suspend()
        try t.vm.resume()
        t.shutdown()
        let outcome = process.wait(timeout: 60)
        #expect(outcome.succeeded, "\(outcome)")
        let text = outcome.output
        let states = text.split(separator: "\n").compactMap { try? ControlEvent(jsonLine: String($0)) }
            .filter { $0.previous != nil }.map { "\($0.previous!)->\($0.state!)" }
        #expect(Array(states.prefix(4)) == ["running->suspending", "suspending->suspended", "suspended->resuming",
                                            "resuming->running"])
    }
}

private func decodeStatus(_ text: String) throws -> VMStatusResponse {
    try JSONDecoder().decode(VMStatusResponse.self, from: Data(text.utf8))
}
