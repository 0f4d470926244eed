import ArgumentParser
import TestGuestImages
import ControlAPI
import Foundation
import PDM
import Synchronization
import TestSupport
import VMM

/// `vmhost-bench api`: the control API's figures. Spawns `vmhost run --api-socket` on the smp-counter guest
/// (2 busy vCPUs) and measures, through the socket: pause and resume latency (request sent → 204 received), with
/// the client thread scheduled normally and then SCHED_FIFO (on a machine whose cores the vCPUs keep busy, a
/// normal client sometimes waits a scheduler slice for its own wake-up; the real-time phase shows the server
/// without that), process start → API socket accepting (median over `--starts` starts), peak RSS of vmhost minus the resident guest RAM; then a `hello` run for
/// process start → the guest's first serial byte. Memory is put next to the raw C KVM floor program on the same
/// guest (measured in the same run), and `--density` vmhost processes side by side give what each further VM
/// costs the host (PSS: shared library pages split between the processes that map them). `--in-process` measures the latencies with server
/// and VM in this process instead (no `vmhost run` needed).
struct APIBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Control API: pause/resume latency through the socket, socket-ready and first-serial-byte times, RSS.")

    @Option(help: "Pause/resume cycles to measure (>= 200).")
    var cycles = 300

    @Option(help: "Unmeasured warm-up cycles.")
    var warmup = 10

    @Option(help: "vCPUs of the guest (all busy in ring 3).")
    var cpus = 2

    @Option(help: "Guest RAM in MiB.")
    var memory = 64

    @Option(help: "The vmhost executable (default: next to vmhost-bench).")
    var vmhost: String?

    @Option(help: "Folder of the test guests (default: built from Tests/Guests into .build/test-guests).")
    var guests: String?

    @Option(help: "Extra arguments for 'vmhost run' (space-separated), e.g. --no-default-devices.")
    var vmhostArgs = ""

    @Option(help: "vmhost processes started one after another for the socket-ready figure (median).")
    var starts = 11

    @Option(help: "vmhost processes run side by side for the per-VM memory figure (0: skip).")
    var density = 4

    @Flag(help: "Run VM and server in this process (latency only).")
    var inProcess = false

    @Flag(help: "Also print the results as one JSON line (for Benchmarks/qemu/qmp-pause.py).")
    var json = false

    @Option(help: ArgumentHelp("The measuring client's scheduling: normal, realtime (SCHED_FIFO 1: the server's "
                               + "latency without the client's own wake-up delays) or both, one after the other.",
                               valueName: "normal|realtime|both"))
    var client: ClientScheduling = .both

    /// How the measuring client thread is scheduled while it times the requests.
    enum ClientScheduling: String, ExpressibleByArgument, CaseIterable {
        case normal, realtime, both
        var phases: [ClientPhase] {
            switch self {
            case .normal: return [.normal]
            case .realtime: return [.realtime]
            case .both: return [.normal, .realtime]
            }
        }
    }

    func validate() throws {
        guard cycles >= 1 else { throw ValidationError("--cycles must be at least 1 (got \(cycles))") }
        guard starts >= 1 else { throw ValidationError("--starts must be at least 1 (got \(starts))") }
        guard density >= 0 else { throw ValidationError("--density must be 0 or more (got \(density))") }
    }

    func run() throws {
        let folder = try guests ?? TestGuests.folder()
        var results = APIBenchResults(cycles: cycles, cpus: cpus)
        if inProcess {
            try measureInProcess(guest: folder + "/smp-counter.elf", into: &results)
        } else {
            let executable = vmhost ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                .deletingLastPathComponent().appendingPathComponent("vmhost").path
            try measureProcess(executable: executable, guest: folder + "/smp-counter.elf", into: &results)
            try measureSocketReady(executable: executable, guest: folder + "/smp-counter.elf", starts: starts - 1,
                                   into: &results)
            try measureFirstSerialByte(executable: executable, guest: folder + "/hello.elf", into: &results)
            if density > 0 {
                try measureDensity(executable: executable, guest: folder + "/smp-counter.elf", into: &results)
            }
            try measureFloor(guest: folder + "/smp-counter.elf", into: &results)
        }
        results.print(json: json)
    }

    // MARK: Through a vmhost process

    private func arguments(guest: String, socket: String) -> [String] {
        ["run", "--kernel", guest, "--cpus", String(cpus), "--memory", String(memory),
         "--cmdline", "cpus=\(cpus)", "--api-socket", socket, "--log-level", "error"]
            + vmhostArgs.split(separator: " ").map(String.init)
    }

    /// Spawns `vmhost run` serving `socket` (in `directory`) and returns it once the socket accepts, with the
    /// nanoseconds from spawn to the first successful connect().
    private func startVMHost(executable: String, guest: String, directory: String) throws -> (ChildProcess, UInt64) {
        let socket = directory + "/api.sock"
        // ChildProcess is a bare posix_spawn: Foundation's Process would put its own set-up (a run-loop thread,
        // a close action per open descriptor) inside the timed window and keep threads busy in this client.
        // Watch the folder rather than spin on connect(): a polling client would take a core from vmhost while
        // it starts. Block until the socket file appears (bind), then connect until it accepts (listen).
        let watch = inotify_init1(Int32(IN_CLOEXEC))
        guard watch >= 0, inotify_add_watch(watch, directory, UInt32(IN_CREATE)) >= 0 else {
            throw ValidationError("inotify on \(directory): errno \(errno)")
        }
        defer { close(watch) }
        let t0 = APIClock.nanoseconds()
        let process = try ChildProcess([executable] + arguments(guest: guest, socket: socket))
        var event = pollfd(fd: watch, events: Int16(POLLIN), revents: 0)
        var ready: UInt64 = 0
        if poll(&event, 1, 10_000) == 1 {
            for _ in 0..<200_000 {
                if APIBenchFiles.canConnect(socket) {
                    ready = APIClock.nanoseconds()
                    break
                }
                guard process.isRunning else { break }
                usleep(20)
            }
        }
        guard ready > 0 else {
            if process.isRunning { process.send(SIGTERM) }
            throw ValidationError("the API socket never became ready: \(process.wait(timeout: 30))")
        }
        return (process, ready - t0)
    }

    /// Process start → socket accepting over `starts` fresh vmhost processes (one start is one sample of a
    /// few ms, at the mercy of the scheduler: the median of several is the figure). Each is stopped with
    /// SIGTERM (a clean power-off) and reaped before the next starts.
    private func measureSocketReady(executable: String, guest: String, starts: Int,
                                    into results: inout APIBenchResults) throws {
        let directory = try APIBenchFiles.privateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func sample(_ count: Int, into samples: inout [Double]) throws {
            for _ in 0..<count {
                let (process, nanoseconds) = try startVMHost(executable: executable, guest: guest, directory: directory)
                samples.append(Double(nanoseconds) / 1e6)
                process.send(SIGTERM)
                process.wait(timeout: 30)
            }
        }
        try sample(starts, into: &results.socketReadyMs)
        // The same with the measuring thread SCHED_FIFO (vmhost itself is spawned SCHED_OTHER): while vmhost
        // loads plugins on one core and starts its event loop on the other, a normal client woken by the new
        // socket may wait for a core; this phase shows vmhost's start without that wait.
        guard self.client != .normal else { return }
        _ = try ClientPhase.realtime.whileScheduled { try sample(starts + 1, into: &results.socketReadyRTMs) }
    }

    private func measureProcess(executable: String, guest: String, into results: inout APIBenchResults) throws {
        let directory = try APIBenchFiles.privateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/api.sock"
        let (process, readyNanoseconds) = try startVMHost(executable: executable, guest: guest, directory: directory)
        defer { if process.isRunning { process.send(SIGTERM); process.wait(timeout: 30) } }
        results.socketReadyMs.append(Double(readyNanoseconds) / 1e6)
        let client = try ControlClient.connect(socketPath: socket)
        defer { client.close() }
        try waitForRunning(client)
        usleep(200_000)  // both vCPUs counting in ring 3
        try pauseResumeCycles(client, into: &results)
        results.peakRSSKiB = APIBenchFiles.statusField(pid: process.pid, "VmHWM")
        results.guestResidentKiB = APIBenchFiles.guestResidentKiB(pid: process.pid, guestMiB: memory)
        results.fileBackedKiB = APIBenchFiles.fileBackedResidentKiB(pid: process.pid)
        results.anonymousKiB = APIBenchFiles.statusField(pid: process.pid, "RssAnon")
        results.serverTimeline = (try? client.request(.GET, "/vm").decode(VMStatusResponse.self))?.bootTimeline
        _ = try? client.request(.PUT, "/actions", body: VMAction(.powerOff))
        process.wait(timeout: 60)
    }

    private func measureFirstSerialByte(executable: String, guest: String, into results: inout APIBenchResults) throws {
        var samples: [Double] = []
        for _ in 0..<5 {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw ValidationError("pipe: errno \(errno)") }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            let t0 = APIClock.nanoseconds()
            let process = try ChildProcess([executable, "run", "--kernel", guest, "--memory", String(memory),
                                            "--log-level", "error"], standardOutput: fds[1])
            close(fds[1])
            var byte: UInt8 = 0
            let got = read(fds[0], &byte, 1)
            let t1 = APIClock.nanoseconds()
            var sink = [UInt8](repeating: 0, count: 4096)
            while sink.withUnsafeMutableBytes({ read(fds[0], $0.baseAddress, $0.count) }) > 0 {}
            close(fds[0])
            process.wait(timeout: 60)
            if got == 1 { samples.append(Double(t1 - t0) / 1e6) }
        }
        results.firstSerialByteMs = samples.sorted().dropFirst(samples.count / 2).first
    }

    /// `density` vmhost processes on the same guest at once: each one's proportional set size (shared pages
    /// divided among the processes mapping them) minus its resident guest RAM, and its private memory.
    private func measureDensity(executable: String, guest: String, into results: inout APIBenchResults) throws {
        let directory = try APIBenchFiles.privateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var processes: [ChildProcess] = []
        var clients: [ControlClient] = []
        defer {
            for client in clients {
                _ = try? client.request(.PUT, "/actions", body: VMAction(.powerOff))
                client.close()
            }
            for process in processes where process.isRunning { process.send(SIGTERM) }
            for process in processes { process.wait(timeout: 30) }
        }
        for k in 0..<density {
            processes.append(try ChildProcess([executable]
                                              + arguments(guest: guest, socket: directory + "/api\(k).sock")))
        }
        for k in 0..<density {
            let socket = directory + "/api\(k).sock"
            var ready = false
            for _ in 0..<10_000 where !ready {
                ready = APIBenchFiles.canConnect(socket)
                if !ready { usleep(1_000) }
            }
            guard ready else { throw ValidationError("VM \(k) of \(density): the API socket never became ready") }
            let client = try ControlClient.connect(socketPath: socket)
            clients.append(client)
            try waitForRunning(client)
        }
        usleep(300_000)
        var pss: [Int] = []
        var privateKiB: [Int] = []
        for process in processes {
            let rollup = APIBenchFiles.rollup(pid: process.pid)
            let guestKiB = APIBenchFiles.guestResidentKiB(pid: process.pid, guestMiB: memory) ?? 0
            pss.append(rollup.pss - guestKiB)
            privateKiB.append(rollup.privateKiB - guestKiB)
        }
        results.densityVMs = density
        results.densityPSSKiB = pss.sorted()[pss.count / 2]
        results.densityPrivateKiB = privateKiB.sorted()[privateKiB.count / 2]
    }

    /// Peak RSS minus resident guest RAM of the raw C KVM floor program (Benchmarks/floor) on the same guest.
    private func measureFloor(guest: String, into results: inout APIBenchResults) throws {
        let root = ExitDispatchBench.root
        let out = root.appendingPathComponent(".build/bench-api/floor").path
        let build = try ChildProcess.run(["/bin/sh", root.appendingPathComponent("Benchmarks/floor/build.sh").path, out],
                                         timeout: 120)
        guard build.succeeded else { throw ValidationError("building kvm_floor failed: \(build)") }
        let process = try ChildProcess([out + "/kvm_floor", "--cpus", String(cpus), "--mem", String(memory),
                                        "--seconds", "2", "--cmdline", "cpus=\(cpus)", guest])
        usleep(1_000_000)
        let peak = APIBenchFiles.statusField(pid: process.pid, "VmHWM")
        let guestKiB = APIBenchFiles.guestResidentKiB(pid: process.pid, guestMiB: memory)
        let run = process.wait(timeout: 60)
        guard run.succeeded, let peak, let guestKiB else { throw ValidationError("kvm_floor failed: \(run)") }
        results.floorOverheadKiB = peak - guestKiB
    }

    // MARK: In this process

    private func measureInProcess(guest: String, into results: inout APIBenchResults) throws {
        var config = VMConfiguration()
        config.machine = MachineSettings(cpus: cpus, memoryMiB: memory, kernel: guest, cmdline: "cpus=\(cpus)")
        let tc = APIClock.nanoseconds()
        let vm = try VirtualMachine.create(configuration: config, registry: PluginRegistry())
        print(String(format: "  VirtualMachine.create: %.2f ms", Double(APIClock.nanoseconds() - tc) / 1e6))
        let directory = try APIBenchFiles.privateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let t0 = APIClock.nanoseconds()
        // As vmhost run serves it: real-time control threads (the library default is .normal).
        let server = try ControlServer.start(vm: vm, socketPath: directory + "/api.sock", threadPriority: .realtime)
        print(String(format: "  ControlServer.start: %.2f ms", Double(APIClock.nanoseconds() - t0) / 1e6))
        defer { server.close() }
        try vm.powerOn()
        usleep(200_000)
        let client = try ControlClient.connect(socketPath: directory + "/api.sock")
        defer { client.close() }
        try pauseResumeCycles(client, into: &results)
        try vm.powerOff()
        try vm.destroy()
    }

    // MARK: Shared

    private func waitForRunning(_ client: ControlClient) throws {
        for _ in 0..<5_000 {
            if (try? client.request(.GET, "/vm").decode(VMStatusResponse.self))?.state == "running" { return }
            usleep(1_000)
        }
        throw ValidationError("the VM never reached running")
    }

    /// Times pause, resume and `GET /vm` with the client scheduled as each phase asks.
    private func pauseResumeCycles(_ client: ControlClient, into results: inout APIBenchResults) throws {
        for phase in self.client.phases {
            results.latencies[phase] = try pauseResumeCycles(client, phase: phase)
        }
    }

    private func pauseResumeCycles(_ client: ControlClient, phase: ClientPhase) throws -> APILatencies {
        var latencies = APILatencies()
        let scheduled = try phase.whileScheduled { try timeCycles(client, into: &latencies) }
        if !scheduled { print("  (no SCHED_FIFO for the client: needs CAP_SYS_NICE or an RLIMIT_RTPRIO; skipped)") }
        return latencies
    }

    private func timeCycles(_ client: ControlClient, into latencies: inout APILatencies) throws {
        let pause = Array(#"{"state":"Paused"}"#.utf8)
        let resume = Array(#"{"state":"Resumed"}"#.utf8)
        for cycle in 0..<(warmup + cycles) {
            let t0 = APIClock.nanoseconds()
            let paused = try client.request(.PATCH, "/vm", json: pause)
            let t1 = APIClock.nanoseconds()
            guard paused.status == 204, paused.header("VMHost-Outcome") == "done" else {
                throw ValidationError("pause answered \(paused.status) \(paused.text)")
            }
            usleep(200)
            let t2 = APIClock.nanoseconds()
            let resumed = try client.request(.PATCH, "/vm", json: resume)
            let t3 = APIClock.nanoseconds()
            guard resumed.status == 204, resumed.header("VMHost-Outcome") == "done" else {
                throw ValidationError("resume answered \(resumed.status) \(resumed.text)")
            }
            usleep(1_000)  // let the vCPUs get back into ring 3
            let t4 = APIClock.nanoseconds()
            let status = try client.request(.GET, "/vm")
            let t5 = APIClock.nanoseconds()
            guard status.status == 200 else { throw ValidationError("GET /vm answered \(status.status)") }
            if cycle >= warmup {
                latencies.status.append(Double(t5 - t4) / 1000)
                latencies.pause.append(Double(t1 - t0) / 1000)
                latencies.resume.append(Double(t3 - t2) / 1000)
            }
        }
    }
}

/// How the measuring client thread was scheduled.
enum ClientPhase: String {
    case normal
    case realtime

    /// Runs `body` with the calling thread scheduled as this phase says (SCHED_FIFO 1 for `.realtime`, put back to
    /// SCHED_OTHER after); false, without running it, when the thread may not be made real-time.
    func whileScheduled(_ body: () throws -> Void) rethrows -> Bool {
        guard self == .realtime else {
            try body()
            return true
        }
        var param = sched_param()
        param.sched_priority = 1
        guard pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0 else { return false }
        defer {
            param.sched_priority = 0
            pthread_setschedparam(pthread_self(), SCHED_OTHER, &param)
        }
        try body()
        return true
    }
}

/// Round trips of one client phase, in µs.
struct APILatencies {
    var pause: [Double] = []
    var resume: [Double] = []
    var status: [Double] = []
}

/// The figures of one `api` run.
struct APIBenchResults {
    let cycles: Int
    let cpus: Int
    var latencies: [ClientPhase: APILatencies] = [:]
    /// Process start → API socket accepting, one sample per vmhost start.
    var socketReadyMs: [Double] = []
    /// The same, measured by a SCHED_FIFO client thread.
    var socketReadyRTMs: [Double] = []
    var firstSerialByteMs: Double?
    var peakRSSKiB: Int?
    var guestResidentKiB: Int?
    var fileBackedKiB: Int?
    /// Resident anonymous memory (heap, stacks, guest RAM): what each further VM process costs, as opposed to
    /// library pages that every vmhost process shares.
    var anonymousKiB: Int?
    var serverTimeline: [String: Double]?
    /// Peak RSS minus resident guest RAM of the raw C KVM floor program on the same guest.
    var floorOverheadKiB: Int?
    var densityVMs = 0
    /// Median over the side-by-side VMs of PSS − resident guest RAM, and of private memory − resident guest RAM.
    var densityPSSKiB: Int?
    var densityPrivateKiB: Int?

    static func percentile(_ samples: [Double], _ p: Double) -> Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return .nan }
        let index = min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)
        return sorted[max(0, index)]
    }

    func print(json: Bool) {
        func us(_ v: Double) -> String { String(format: "%.1f us", v) }
        Swift.print("api: \(cycles) pause/resume cycles through the socket, \(cpus) vCPUs busy in ring 3 (smp-counter)")
        for phase in [ClientPhase.normal, .realtime] {
            guard let measured = latencies[phase], !measured.pause.isEmpty else { continue }
            Swift.print(phase == .normal ? "  client thread SCHED_OTHER (as a script or curl runs):"
                                         : "  client thread SCHED_FIFO 1 (the server's latency without the client's wake-up delay):")
            for (label, samples) in [("pause  (PATCH Paused  -> 204)", measured.pause),
                                     ("resume (PATCH Resumed -> 204)", measured.resume),
                                     ("GET /vm, VM running (-> 200)", measured.status)] {
                Swift.print("    \(label): median \(us(Self.percentile(samples, 50)))  p90 \(us(Self.percentile(samples, 90)))"
                    + "  p99 \(us(Self.percentile(samples, 99)))  max \(us(samples.max() ?? .nan))")
            }
        }
        if !socketReadyMs.isEmpty {
            Swift.print(String(format: "  process start -> API socket ready: median %.2f ms, min %.2f, max %.2f over %d starts",
                               Self.percentile(socketReadyMs, 50), socketReadyMs.min() ?? .nan,
                               socketReadyMs.max() ?? .nan, socketReadyMs.count))
        }
        if !socketReadyRTMs.isEmpty {
            Swift.print(String(format: "  process start -> API socket ready, SCHED_FIFO client: median %.2f ms, min %.2f, max %.2f over %d starts",
                               Self.percentile(socketReadyRTMs, 50), socketReadyRTMs.min() ?? .nan,
                               socketReadyRTMs.max() ?? .nan, socketReadyRTMs.count))
        }
        if let serverTimeline, !serverTimeline.isEmpty {
            let line = serverTimeline.sorted { $0.value < $1.value }
                .map { String(format: "%@ %.2f", String($0.key.dropLast(3)), $0.value) }.joined(separator: ", ")
            Swift.print("  vmhost's own boot timeline (ms after its first initializer): \(line)")
        }
        if let firstSerialByteMs {
            Swift.print(String(format: "  process start -> guest's first serial byte (hello, median of 5): %.2f ms",
                               firstSerialByteMs))
        }
        if let peakRSSKiB {
            let guest = guestResidentKiB ?? 0
            Swift.print("  peak RSS \(peakRSSKiB) KiB, guest RAM resident \(guest) KiB -> overhead "
                + String(format: "%.2f MiB", Double(peakRSSKiB - guest) / 1024)
                + (fileBackedKiB.map { " (of the current RSS, \($0) KiB are file-backed: executable + libraries)" } ?? ""))
            if let anonymousKiB {
                Swift.print("  private (anonymous) memory \(anonymousKiB) KiB - guest RAM resident -> "
                    + String(format: "%.2f MiB per VM beyond the shared libraries", Double(anonymousKiB - guest) / 1024))
            }
        }
        func mib(_ kib: Int) -> String { String(format: "%.2f MiB", Double(kib) / 1024) }
        let guest = guestResidentKiB ?? 0
        if let floorOverheadKiB {
            Swift.print("  same guest, raw C KVM floor (kvm_floor): peak RSS - guest RAM resident \(mib(floorOverheadKiB))"
                + (peakRSSKiB.map { String(format: "; vmhost / floor = %.1fx", Double($0 - guest) / Double(max(1, floorOverheadKiB))) } ?? ""))
        }
        if let densityPSSKiB, let densityPrivateKiB {
            Swift.print("  \(densityVMs) vmhost processes side by side: per VM, PSS - guest RAM \(mib(densityPSSKiB))"
                + " (shared pages split between them), private \(mib(densityPrivateKiB))")
        }
        Swift.print("  goals: pause median <= 300 us, p99 <= 1000 us; socket ready <= 10 ms; overhead <= 8 MiB")
        if json {
            var fields: [String] = []
            for (phase, suffix) in [(ClientPhase.normal, ""), (.realtime, "_rt")] {
                guard let measured = latencies[phase], !measured.pause.isEmpty else { continue }
                fields += [
                    "\"pause_median\(suffix)_us\":\(Self.percentile(measured.pause, 50))",
                    "\"pause_p99\(suffix)_us\":\(Self.percentile(measured.pause, 99))",
                    "\"resume_median\(suffix)_us\":\(Self.percentile(measured.resume, 50))",
                    "\"resume_p99\(suffix)_us\":\(Self.percentile(measured.resume, 99))",
                ]
            }
            if !socketReadyMs.isEmpty { fields.append("\"socket_ready_ms\":\(Self.percentile(socketReadyMs, 50))") }
            if !socketReadyRTMs.isEmpty {
                fields.append("\"socket_ready_rt_ms\":\(Self.percentile(socketReadyRTMs, 50))")
            }
            if let firstSerialByteMs { fields.append("\"first_serial_byte_ms\":\(firstSerialByteMs)") }
            if let peakRSSKiB { fields.append("\"overhead_kib\":\(peakRSSKiB - (guestResidentKiB ?? 0))") }
            if let densityPSSKiB { fields.append("\"pss_per_vm_kib\":\(densityPSSKiB)") }
            if let floorOverheadKiB { fields.append("\"floor_overhead_kib\":\(floorOverheadKiB)") }
            Swift.print("{" + fields.joined(separator: ",") + "}")
        }
    }
}

private enum APIClock {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// Files, sockets and /proc for the benchmark.
private enum APIBenchFiles {
    static func privateDirectory() throws -> String {
        var template = Array("/tmp/vmhost-bench-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let dir = mkdtemp(base) else { return nil }
            return String(cString: dir)
        }
        guard let made else { throw ValidationError("mkdtemp failed") }
        return made
    }

    /// True once a Unix-socket connect to `path` succeeds.
    static func canConnect(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    /// The whole of a /proc file (their size is 0 to stat, so read to EOF).
    static func procFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A `kB` field of /proc/<pid>/status.
    static func statusField(pid: Int32, _ name: String) -> Int? {
        guard let text = procFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.split(separator: " ").dropFirst().first ?? "")
        }
        return nil
    }

    /// Resident KiB of the guest-RAM mapping: the anonymous read-write mapping of the guest's size (the kernel
    /// may merge a neighbouring anonymous mapping into it, so up to 4 MiB larger).
    static func guestResidentKiB(pid: Int32, guestMiB: Int) -> Int? {
        smapsSums(pid: pid).guest(guestMiB)
    }

    /// Proportional set size and private memory (clean + dirty) of the whole process, KiB (smaps_rollup).
    static func rollup(pid: Int32) -> (pss: Int, privateKiB: Int) {
        var pss = 0
        var privateKiB = 0
        for line in (procFile("/proc/\(pid)/smaps_rollup") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let value = Int(fields[1]) else { continue }
            if fields[0] == "Pss:" { pss = value }
            if fields[0] == "Private_Clean:" || fields[0] == "Private_Dirty:" { privateKiB += value }
        }
        return (pss, privateKiB)
    }

    /// Resident KiB of file-backed mappings (executable and shared libraries).
    static func fileBackedResidentKiB(pid: Int32) -> Int? {
        smapsSums(pid: pid).fileBacked
    }

    private struct Sums {
        var mappings: [(size: Int, rss: Int, anonymousRW: Bool, file: Bool)] = []
        func guest(_ mib: Int) -> Int? {
            mappings.first { $0.anonymousRW && $0.size >= mib * 1024 && $0.size < mib * 1024 + 4096 }?.rss
        }
        var fileBacked: Int { mappings.filter(\.file).reduce(0) { $0 + $1.rss } }
    }

    private static func smapsSums(pid: Int32) -> Sums {
        var sums = Sums()
        guard let text = procFile("/proc/\(pid)/smaps") else { return sums }
        var anonymousRW = false
        var file = false
        var size = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if let first = fields.first, first.contains("-"), first.first?.isHexDigit == true, fields.count >= 5 {
                anonymousRW = fields[1].hasPrefix("rw") && fields.count == 5
                file = fields.count >= 6 && fields[5].hasPrefix("/")
            } else if line.hasPrefix("Size:") {
                size = Int(fields.dropFirst().first ?? "") ?? 0
            } else if line.hasPrefix("Rss:") {
                sums.mappings.append((size, Int(fields.dropFirst().first ?? "") ?? 0, anonymousRW, file))
            }
        }
        return sums
    }
}
