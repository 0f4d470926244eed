import ControlAPI
import Foundation
import Testing
import TestGuestImages
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

    /// `vmhost run --api-socket` end to end: a real vmhost process booting a real guest, driven by the verbs; its
    /// boot timeline has every milestone, in the order the process reaches them, from its first initializer on.
    @Test func vmhostRunServesTheAPIAndReportsItsBoot() throws {
        let directory = makePrivateDirectory()
        defer { removeDirectory(directory) }
        let socket = ["--api-socket", directory + "/api.sock"]
        let process = try ChildProcess([Self.executable, "run", "--kernel", try TestGuests.path("smp-counter"),
                                        "--cpus", "2", "--cmdline", "cpus=2 heartbeat=16", "--log-level", "error"] + socket)
        defer { if process.isRunning { process.send(SIGKILL); process.wait(timeout: 30) } }
        // Each poll is a vmhost process; bound the wait by time, not by a count of polls.
        var status: VMStatusResponse?
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, process.isRunning {
            status = try? decodeStatus(vmhost(["status", "--json"] + socket).stdout)
            if status?.state == "running", status?.bootTimeline["first_serial_byte_ms"] != nil { break }
            usleep(20_000)
        }
        #expect(status?.bootTimeline["first_serial_byte_ms"] != nil, "\(String(describing: status))")
        let timeline = status?.bootTimeline ?? [:]
        let order = ["process_start_ms", "arguments_parsed_ms", "configuration_loaded_ms", "api_socket_ready_ms",
                     "plugins_loaded_ms", "first_kvm_run_ms", "first_serial_byte_ms"]
        let times = order.compactMap { timeline[$0] }
        #expect(times.count == order.count, "\(timeline)")
        #expect(times == times.sorted(), "\(timeline)")
        #expect(times.first == 0)
        // The origin is before Swift's main: parsing the arguments is on the timeline, not at its origin.
        #expect((timeline["arguments_parsed_ms"] ?? 0) > 0, "\(timeline)")

        let pause = try vmhost(["pause"] + socket)
        #expect(pause.status == 0 && pause.stdout == "VM suspended\n", "\(pause)")
        #expect(try decodeStatus(vmhost(["status", "--json"] + socket).stdout).state == "suspended")
        #expect(try vmhost(["resume"] + socket).stdout == "VM running\n")
        #expect(try vmhost(["poweroff"] + socket).stdout == "VM powered off\n")
        let outcome = process.wait(timeout: 60)
        #expect(outcome.succeeded, "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/api.sock"), "the socket outlived the VM")
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
