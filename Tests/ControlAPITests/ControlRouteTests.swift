import ControlAPI
import Logging
import Glibc
import NIOHTTP1
import Synchronization
import Testing
import VMM

/// Every route of the control API and its error paths, over the real VM threading and PDM (fake vCPUs).
@Suite(.serialized) struct ControlRouteTests {
    @Test func getVMReportsStateVCPUsUptimeAndBootTimeline() throws {
        let t = try APITestVM(vcpus: 2)
        defer { t.shutdown() }
        t.timeline.mark(.configurationLoaded)
        let client = try t.client()
        defer { client.close() }
        let response = try client.request(.GET, "/vm")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json")
        let status = try response.decode(VMStatusResponse.self)
        #expect(status.state == "running")
        #expect(status.vcpus == 2)
        #expect(status.reason == nil)
        #expect((status.uptimeMs ?? -1) >= 0)
        #expect(status.bootTimeline["process_start_ms"] == 0)
        #expect(status.bootTimeline["api_socket_ready_ms"] != nil)
        #expect(status.bootTimeline["configuration_loaded_ms"] != nil)
        #expect(status.bootTimeline["first_kvm_run_ms"] == nil)
    }

    @Test func pauseAndResumeAnswerAfterTheStateIsReached() throws {
        let t = try APITestVM(vcpus: 2)
        defer { t.shutdown() }
        let client = try t.client()
        defer { client.close() }
        let paused = try client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused))
        #expect(paused.status == 204)
        #expect(paused.header("VMHost-Outcome") == "done")
        #expect(t.vm.state == .suspended)
        let status = try client.request(.GET, "/vm").decode(VMStatusResponse.self)
        #expect(status.state == "suspended")
        #expect(status.reason == "user")
        let frozen = t.totalRuns
        let again = try client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused))
        #expect(again.status == 204)
        #expect(again.header("VMHost-Outcome") == "already-suspended")
        #expect(t.totalRuns == frozen)
        let resumed = try client.request(.PATCH, "/vm", body: VMStatePatch(state: .resumed))
        #expect(resumed.status == 204)
        #expect(resumed.header("VMHost-Outcome") == "done")
        #expect(t.vm.state == .running)
        #expect(try client.request(.PATCH, "/vm", body: VMStatePatch(state: .resumed))
            .header("VMHost-Outcome") == "already-running")
    }

    /// A pause that arrives while another pause is still suspending (an async driver holds the walk) waits, then
    /// answers that the VM is suspended; neither answer comes before the VM is suspended.
    @Test func secondPauseWhileSuspendingWaitsAndAnswersAlreadySuspended() throws {
        let t = try APITestVM(vcpus: 2, asyncMs: 300)
        defer { t.shutdown() }
        let answers = Mutex<[(outcome: String, stateAtAnswer: VMState)]>([])
        runOnThreads(2) { i in
            guard let client = try? t.client() else { return }
            defer { client.close() }
            if i == 1 {
                // Start once the first pause is under way.
                _ = t.vm.waitForState(timeoutNanoseconds: 5_000_000_000) { $0 == .suspending }
            }
            guard let r = try? client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused)), r.status == 204
            else { return }
            let state = t.vm.state
            answers.withLock { $0.append((r.header("VMHost-Outcome") ?? "?", state)) }
        }
        let got = answers.withLock { $0 }
        #expect(got.count == 2)
        #expect(Set(got.map(\.outcome)) == ["done", "already-suspended"])
        #expect(got.allSatisfy { $0.stateAtAnswer == .suspended })
    }

    @Test func operationsRefusedInTheCurrentStateAnswer409NamingIt() throws {
        let t = try APITestVM(vcpus: 1, powerOn: false)
        defer { t.shutdown() }
        let client = try t.client()
        defer { client.close() }
        let pause = try client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused))
        #expect(pause.status == 409)
        #expect(pause.faultMessage == "cannot suspend: the VM is created")
        let reset = try client.request(.PUT, "/actions", body: VMAction(.reset))
        #expect(reset.status == 409)
        #expect(reset.faultMessage?.contains("created") == true)
        #expect(t.vm.state == .created)
    }

    @Test func resetAndPowerOffActions() throws {
        let t = try APITestVM(vcpus: 2)
        defer { t.shutdown() }
        let client = try t.client()
        defer { client.close() }
        let reset = try client.request(.PUT, "/actions", body: VMAction(.reset))
        #expect(reset.status == 204)
        #expect(t.vm.state == .running)
        #expect(t.harness.messages(of: "Stub/0").contains("reset"))
        let off = try client.request(.PUT, "/actions", body: VMAction(.powerOff))
        #expect(off.status == 204)
        #expect(t.vm.state == .off)
        let offAgain = try client.request(.PUT, "/actions", body: VMAction(.powerOff))
        #expect(offAgain.status == 204)
        #expect(offAgain.header("VMHost-Outcome") == "already-off")
        let resume = try client.request(.PATCH, "/vm", body: VMStatePatch(state: .resumed))
        #expect(resume.status == 409)
        #expect(resume.faultMessage == "cannot resume: the VM is off")
    }

    @Test func devicesListInstancesLUNChainsAndPendingAsyncNotifications() throws {
        let t = try APITestVM(vcpus: 1, asyncMs: 300)
        defer { t.shutdown() }
        let client = try t.client()
        defer { client.close() }
        let tree = try client.request(.GET, "/devices").decode(DeviceTreeResponse.self)
        #expect(tree.devices.map(\.name) == ["Stub/0", "StubFirst/0"])
        #expect(tree.devices[0].device == "Stub")
        #expect(tree.devices[0].luns.count == 1)
        #expect(tree.devices[0].luns[0].drivers.map(\.driver) == ["StubDriver", "StubDriver"])
        #expect(tree.devices[0].luns[0].drivers.map(\.name) == ["Stub/0/0/StubDriver/0", "Stub/0/0/StubDriver/1"])
        #expect(tree.devices.allSatisfy { !$0.asyncPending })

        // While a suspend waits for the async instances, a second connection sees them pending.
        let pauser = try t.client()
        defer { pauser.close() }
        let pauseDone = Atomic<Int>(0)
        let seenPending = Mutex<[String]>([])
        runOnThreads(2) { i in
            if i == 0 {
                let r = try? pauser.request(.PATCH, "/vm", body: VMStatePatch(state: .paused))
                pauseDone.store(r?.status ?? -1, ordering: .sequentiallyConsistent)
            } else {
                while pauseDone.load(ordering: .sequentiallyConsistent) == 0 {
                    guard let tree = try? client.request(.GET, "/devices").decode(DeviceTreeResponse.self) else { break }
                    let pending = tree.devices.flatMap { d in
                        (d.asyncPending ? [d.name] : []) + d.luns.flatMap { $0.drivers.filter(\.asyncPending).map(\.name) }
                    }
                    if !pending.isEmpty { seenPending.withLock { $0 = pending } }
                    usleep(5_000)
                }
            }
        }
        #expect(pauseDone.load(ordering: .sequentiallyConsistent) == 204)
        #expect(!seenPending.withLock { $0 }.isEmpty)
        let after = try client.request(.GET, "/devices").decode(DeviceTreeResponse.self)
        #expect(after.devices.allSatisfy { !$0.asyncPending && $0.luns.allSatisfy { $0.drivers.allSatisfy { !$0.asyncPending } } })
    }

    @Test func eventStreamCarriesStateChangesAndSuspendProgress() throws {
        let t = try APITestVM(vcpus: 2, asyncMs: 1_200)
        defer { t.shutdown() }
        let follower = try t.client()
        let lines = Mutex<[ControlEvent]>([])
        let streamEnded = Atomic<Bool>(false)
        let subscribed = Atomic<Bool>(false)
        runOnThreads(2) { i in
            if i == 0 {
                _ = try? follower.followEvents { line in
                    guard let event = try? ControlEvent(jsonLine: line) else { return false }
                    subscribed.store(true, ordering: .sequentiallyConsistent)
                    let count = lines.withLock { $0.append(event); return $0.count }
                    return count < 9
                }
                streamEnded.store(true, ordering: .sequentiallyConsistent)
            } else {
                guard let client = try? t.client() else { return }
                defer { client.close() }
                while !subscribed.load(ordering: .sequentiallyConsistent) { usleep(1_000) }
                _ = try? client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused))
                _ = try? client.request(.PATCH, "/vm", body: VMStatePatch(state: .resumed))
                _ = try? client.request(.PUT, "/actions", body: VMAction(.powerOff))
            }
        }
        follower.close()
        let events = lines.withLock { $0 }
        let ended = streamEnded.load(ordering: .sequentiallyConsistent)
        #expect(ended)
        #expect(events.first?.type == "state")
        #expect(events.first?.state == "running")
        let states = events.filter { $0.type == "state" }.dropFirst().map { "\($0.previous ?? "?")->\($0.state ?? "?")" }
        #expect(states == ["running->suspending", "suspending->suspended", "suspended->resuming", "resuming->running",
                           "running->poweringOff", "poweringOff->off"])
        let progress = events.filter { $0.type == "progress" }
        #expect(progress.contains { $0.operation == "suspend" && ($0.pending ?? []).contains { $0.hasPrefix("Stub/0") } })
        let seqs = events.dropFirst().map(\.seq)
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
    }

    @Test func guruMeditationIsReportedOnTheStreamAndInStatus() throws {
        let t = try APITestVM(vcpus: 2)
        defer { t.shutdown() }
        let follower = try t.client()
        let events = Mutex<[ControlEvent]>([])
        let subscribed = Atomic<Bool>(false)
        runOnThreads(2) { i in
            if i == 0 {
                _ = try? follower.followEvents { line in
                    guard let event = try? ControlEvent(jsonLine: line) else { return false }
                    subscribed.store(true, ordering: .sequentiallyConsistent)
                    events.withLock { $0.append(event) }
                    return event.type != "guru_meditation"
                }
            } else {
                while !subscribed.load(ordering: .sequentiallyConsistent) { usleep(1_000) }
                t.cpus[1].injected.withLock { $0 = .shutdown(reason: "triple fault", registers: "rip=0x1000") }
            }
        }
        follower.close()
        let guru = events.withLock { $0 }.last
        #expect(guru?.type == "guru_meditation")
        #expect(guru?.vcpu == 1)
        #expect(guru?.reason == "triple fault")
        let client = try t.client()
        defer { client.close() }
        let status = try client.request(.GET, "/vm").decode(VMStatusResponse.self)
        #expect(status.state == "guruMeditation")
        #expect(status.reason == "triple fault")
        #expect(status.guruMeditation?.vcpu == 1)
        let pause = try client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused))
        #expect(pause.status == 409)
        #expect(pause.faultMessage == "cannot suspend: the VM is guruMeditation")
        #expect(try client.request(.PUT, "/actions", body: VMAction(.powerOff)).status == 204)
    }

    @Test func socketListensBeforeTheVMExistsThenServesIt() throws {
        let directory = makePrivateDirectory()
        defer { removeDirectory(directory) }
        var logger = Logger(label: "test.api")
        logger.logLevel = .critical
        let timeline = BootTimeline()
        let server = try ControlServer.listen(socketPath: directory + "/api.sock", timeline: timeline, logger: logger)
        defer { server.close() }
        let client = try ControlClient.connect(socketPath: directory + "/api.sock", defaultTimeoutMilliseconds: 60_000)
        defer { client.close() }
        let early = try client.request(.GET, "/vm").decode(VMStatusResponse.self)
        #expect(early.state == "creating")
        #expect(early.bootTimeline["api_socket_ready_ms"] != nil)
        #expect(try client.request(.GET, "/devices").decode(DeviceTreeResponse.self).devices.isEmpty)
        let pause = try client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused))
        #expect(pause.status == 409)
        #expect(pause.faultMessage == "cannot suspend: the VM is creating")

        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        server.attach(vm: t.vm, devices: DeviceInfo.source(for: t.harness.pdm))
        #expect(try client.request(.GET, "/vm").decode(VMStatusResponse.self).state == "running")
        #expect(try client.request(.GET, "/devices").decode(DeviceTreeResponse.self).devices.count == 2)
        #expect(try client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused)).status == 204)
        #expect(t.vm.state == .suspended)
    }

    @Test func unknownRoutesAndWrongMethods() throws {
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        let client = try t.client()
        defer { client.close() }
        let missing = try client.request(.GET, "/nothing")
        #expect(missing.status == 404)
        #expect(missing.faultMessage?.contains("/nothing") == true)
        let wrong = try client.request(.DELETE, "/vm")
        #expect(wrong.status == 405)
        #expect(wrong.header("Allow") == "GET, PATCH")
        #expect(try client.request(.POST, "/actions").status == 405)
        #expect(try client.request(.PUT, "/devices").status == 405)
        #expect(try client.request(.GET, "/vm?verbose=1").status == 200)
        #expect(t.vm.state == .running)
    }
}
