import ControlAPI
import Glibc
import Logging
import PDM
import Synchronization
import Testing
import VMM

/// Concurrent pause/resume through the socket against the real VM: 4 clients × 2,500 requests on the
/// `smp-counter` guest (2 vCPUs counting in ring 3). No deadlock; every answer is a 204 whose outcome matches
/// the event stream; the guest's counters never move while the VM is suspended.
@Suite(.serialized) struct PauseResumeStormTests {
    static let statusPage: UInt64 = 0x10000

    /// What happened, as the VM's own state listener saw it (on the EMTs, inside the rendezvous).
    final class Observer: @unchecked Sendable {
        struct State {
            var transitions: [String] = []
            var countersAtSuspend: [UInt64] = []
            var frozenViolations: [String] = []
            var suspendChecks = 0
        }
        let state = Mutex(State())
    }

    static func counters(_ memory: GuestMemory, vcpus: Int) -> [UInt64] {
        (0..<vcpus).map { (try? memory.load(UInt64.self, at: statusPage + 64 * UInt64($0))) ?? 0 }
    }

    @Test func fourClientsStormPauseAndResume() throws {
        let clientCount = 4
        let requestsPerClient = 2_500
        let vcpus = 2
        var config = VMConfiguration()
        config.machine = MachineSettings(cpus: vcpus, memoryMiB: 64, kernel: try GuestImages.path("smp-counter"),
                                         cmdline: "cpus=\(vcpus)")
        var logger = Logger(label: "test.vm")
        logger.logLevel = .error
        let vm = try VirtualMachine.create(configuration: config, registry: PluginRegistry(), logger: logger)
        let memory = try #require(vm.parts?.machine.memory)
        let directory = makePrivateDirectory()
        defer { removeDirectory(directory) }
        let socketPath = directory + "/api.sock"
        var apiLogger = Logger(label: "test.api")
        apiLogger.logLevel = .error
        let server = try ControlServer.start(vm: vm, socketPath: socketPath, logger: apiLogger)
        defer { server.close() }

        let observer = Observer()
        vm.stateMachine.addListener { new, old in
            observer.state.withLock { s in
                s.transitions.append("\(old)->\(new)")
                if new == .suspended {
                    s.countersAtSuspend = Self.counters(memory, vcpus: vcpus)
                } else if old == .suspended {
                    s.suspendChecks += 1
                    let now = Self.counters(memory, vcpus: vcpus)
                    if now != s.countersAtSuspend {
                        s.frozenViolations.append("suspended at \(s.countersAtSuspend), left with \(now)")
                    }
                }
            }
        }
        try vm.powerOn()
        #expect(waitUntil { (try? memory.load(UInt32.self, at: 0x10804)) == UInt32(vcpus) })
        let early = Self.counters(memory, vcpus: vcpus)
        #expect(waitUntil { zip(Self.counters(memory, vcpus: vcpus), early).allSatisfy { $0 > $1 } })

        // The event stream, followed for the whole storm.
        let streamed = Mutex<[ControlEvent]>([])
        let follower = try ControlClient.connect(socketPath: socketPath, defaultTimeoutMilliseconds: 60_000)
        let subscribed = Atomic<Bool>(false)
        let failures = Mutex<[String]>([])
        let outcomes = Mutex<[String: Int]>([:])
        let finishedClients = Atomic<Int>(0)
        let stormMs = Atomic<Int>(0)
        let start = BootTimeline()

        runOnThreads(clientCount + 1) { index in
            if index == clientCount {
                _ = try? follower.followEvents { line in
                    guard let event = try? ControlEvent(jsonLine: line) else { return false }
                    streamed.withLock { $0.append(event) }
                    subscribed.store(true, ordering: .sequentiallyConsistent)
                    // The reset after the storm marks the end: every storm event came before it.
                    return event.previous != "resetting"
                }
                return
            }
            while !subscribed.load(ordering: .sequentiallyConsistent) { usleep(1_000) }
            guard let client = try? ControlClient.connect(socketPath: socketPath, defaultTimeoutMilliseconds: 60_000) else {
                failures.withLock { $0.append("client \(index) cannot connect") }
                if finishedClients.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue == clientCount {
                    follower.close()
                }
                return
            }
            defer {
                // The last client to finish ends the stream with a reset (no suspend/resume transitions).
                if finishedClients.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue == clientCount {
                    stormMs.store(Int(start.nowMilliseconds()), ordering: .sequentiallyConsistent)
                    do {
                        let reply = try client.request(.PUT, "/actions", body: VMAction(.reset),
                                                       timeoutMilliseconds: 30_000)
                        if reply.status != 204 {
                            failures.withLock { $0.append("reset: status \(reply.status): \(reply.text)") }
                            follower.close()
                        }
                    } catch {
                        failures.withLock { $0.append("reset: \(error) (VM \(vm.state))\n\(vm.emts.diagnostics())") }
                        follower.close()
                    }
                }
                client.close()
            }
            var random = SystemRandomNumberGenerator()
            var local: [String: Int] = [:]
            for _ in 0..<requestsPerClient {
                let pause = Bool.random(using: &random)
                do {
                    let response = try client.request(.PATCH, "/vm",
                                                      body: VMStatePatch(state: pause ? .paused : .resumed),
                                                      timeoutMilliseconds: 20_000)
                    guard response.status == 204 else {
                        failures.withLock { $0.append("status \(response.status): \(response.text)") }
                        continue
                    }
                    let outcome = response.header("VMHost-Outcome") ?? "?"
                    local["\(pause ? "pause" : "resume"):\(outcome)", default: 0] += 1
                } catch {
                    let report = "client \(index): \(error) (VM \(vm.state))\n\(vm.emts.diagnostics())"
                    print("storm: \(report)")
                    failures.withLock { $0.append(report) }
                    if getenv("VMHOST_STORM_STALL_PAUSE") != nil { sleep(120) }  // time to attach a debugger
                    return
                }
            }
            outcomes.withLock { all in for (key, n) in local { all[key, default: 0] += n } }
        }
        follower.close()

        let failed = failures.withLock { $0 }
        #expect(failed.isEmpty, "\(failed.prefix(5))")
        let counts = outcomes.withLock { $0 }
        #expect(counts.values.reduce(0, +) == clientCount * requestsPerClient)
        let allowed: Set<String> = ["pause:done", "pause:already-suspended", "resume:done", "resume:already-running"]
        #expect(Set(counts.keys).isSubset(of: allowed), "\(counts)")

        let seen = observer.state.withLock { $0 }
        #expect(seen.frozenViolations.isEmpty, "\(seen.frozenViolations.prefix(3))")
        #expect(seen.suspendChecks > 100)

        // Replies match the event stream: one suspending->suspended per "done" pause, one resuming->running per
        // "done" resume, and the stream equals the VM's own record of transitions with no gap in seq.
        let events = streamed.withLock { $0 }
        let stateEvents = events.dropFirst().filter { $0.type == "state" }
        let streamTransitions = stateEvents.map { "\($0.previous ?? "?")->\($0.state ?? "?")" }
        let vmTransitions = seen.transitions.drop { !$0.hasSuffix("->running") }.dropFirst()
        #expect(Array(streamTransitions.prefix(vmTransitions.count)) == Array(vmTransitions.prefix(streamTransitions.count)))
        let seqs = stateEvents.map(\.seq)
        #expect(zip(seqs, seqs.dropFirst()).allSatisfy { $1 == $0 + 1 })
        let suspends = streamTransitions.filter { $0 == "suspending->suspended" }.count
        let resumes = streamTransitions.filter { $0 == "resuming->running" }.count
        let donePauses = counts["pause:done"] ?? 0
        let doneResumes = counts["resume:done"] ?? 0
        #expect(suspends == donePauses, "stream \(suspends) vs replies \(donePauses)")
        #expect(resumes == doneResumes, "stream \(resumes) vs replies \(doneResumes)")
        #expect(streamTransitions.last?.hasPrefix("resetting->") == true)
        #expect(donePauses > 100 && doneResumes > 100)

        // Sequentially: counters frozen while suspended, moving after resume.
        let client = try ControlClient.connect(socketPath: socketPath, defaultTimeoutMilliseconds: 60_000)
        defer { client.close() }
        if vm.state == .suspended {
            #expect(try client.request(.PATCH, "/vm", body: VMStatePatch(state: .resumed)).status == 204)
        }
        #expect(try client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused)).status == 204)
        let frozen = Self.counters(memory, vcpus: vcpus)
        usleep(50_000)
        #expect(Self.counters(memory, vcpus: vcpus) == frozen)
        #expect(try client.request(.GET, "/vm").decode(VMStatusResponse.self).state == "suspended")
        #expect(try client.request(.PATCH, "/vm", body: VMStatePatch(state: .resumed)).status == 204)
        #expect(waitUntil { zip(Self.counters(memory, vcpus: vcpus), frozen).allSatisfy { $0 > $1 } })
        #expect(try client.request(.PUT, "/actions", body: VMAction(.powerOff)).status == 204)
        try vm.destroy()
        print("storm: \(clientCount) clients x \(requestsPerClient) requests in "
            + "\(stormMs.load(ordering: .relaxed)) ms; outcomes \(counts)")
    }
}

/// Polls `condition` every 2 ms for up to 10 s (a correctness bound, not a timing assertion).
func waitUntil(_ condition: () -> Bool) -> Bool {
    for _ in 0..<5_000 {
        if condition() { return true }
        usleep(2_000)
    }
    return condition()
}
