import ArgumentParser
import Foundation
import Glibc
import KVM
import PDM
import VMM

/// `vmhost-bench exits`: VM-exit throughput of the machine half (KVM_RUN → ExitDispatcher → the real Scratchpad
/// plugin through the real PDM) against the raw C floor program `Benchmarks/floor/kvm_floor`, with the io-exits
/// guest, for port I/O and MMIO doorbells.
///
/// Two figures per program: wall-clock exits/s from the first doorbell exit to the DebugExit write (what the
/// floor program prints itself), and exits per CPU-second over the whole run (thread CPU time of VMHost's run loop;
/// the floor child's user+system time), which stays comparable when other work competes for the cores.
struct ExitDispatchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exits",
        abstract: "Exits/s of VMHost's exit dispatch vs the raw C KVM floor (io-exits guest, Scratchpad plugin).")

    @Option(help: "Doorbell writes per run.")
    var count: Int = 200_000

    @Option(help: "Guest ring running the doorbell loop (0 is emulated by kvm_pvm; 3 runs natively).")
    var ring: Int = 3

    @Option(help: "Modes to measure: pio, mmio (repeatable).")
    var mode: [String] = ["pio", "mmio"]

    @Option(help: "Runs per mode and program; the best run counts.")
    var repeats: Int = 3

    @Option(help: "Folder with the plugin .so files (default: the folder of this executable).")
    var plugins: String?

    /// The repository root, from this file's path (`<root>/Benchmarks/VMHostBench/ExitDispatchBench.swift`).
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct BenchError: Error, CustomStringConvertible { let description: String }

    func run() throws {
        let work = Self.root.appendingPathComponent(".build/bench-exits")
        try Self.shell("/usr/bin/make", ["-s", "-C", Self.root.appendingPathComponent("Tests/Guests").path,
                                          "OUT=\(work.appendingPathComponent("guests").path)"])
        try Self.shell("/bin/sh", [Self.root.appendingPathComponent("Benchmarks/floor/build.sh").path,
                                    work.appendingPathComponent("floor").path])
        let guest = work.appendingPathComponent("guests/io-exits.elf").path
        let floor = work.appendingPathComponent("floor/kvm_floor").path
        let pluginFolder = plugins ?? Self.executableFolder()

        let registry = PluginRegistry()
        for plugin in ["Scratchpad", "DebugExit"] {
            _ = try registry.load(path: "\(pluginFolder)/lib\(plugin).so")
        }

        print("exits: io-exits guest, \(count) doorbells per run, ring \(ring), best of \(repeats)")
        for m in mode {
            guard m == "pio" || m == "mmio" else { throw BenchError(description: "unknown mode \(m) (pio|mmio)") }
            let cmdline = "mode=\(m) count=\(count) ring=\(ring)"
            var vmhost = Rates(wall: 0, cpu: 0)
            var floorRates = Rates(wall: 0, cpu: 0)
            for _ in 0..<repeats {
                // Alternate the two programs so drift in the host hits both alike.
                vmhost = vmhost.best(try measureVMHost(guest: guest, commandLine: cmdline, registry: registry,
                                                       mmio: m == "mmio"))
                floorRates = floorRates.best(try measureFloor(floor, guest: guest, commandLine: cmdline))
            }
            func ratio(_ a: Double, _ b: Double) -> Double { b > 0 ? a / b : 0 }
            print(String(format: "exits: %@ ring%d  wall: vmhost %.0f/s floor %.0f/s ratio %.3f   "
                         + "per CPU-s: vmhost %.0f floor %.0f ratio %.3f",
                         m, ring, vmhost.wall, floorRates.wall, ratio(vmhost.wall, floorRates.wall),
                         vmhost.cpu, floorRates.cpu, ratio(vmhost.cpu, floorRates.cpu)))
        }
    }

    /// Exit rates of one run: wall-clock exits/s and exits per CPU-second.
    struct Rates {
        var wall: Double
        var cpu: Double
        func best(_ other: Rates) -> Rates { Rates(wall: max(wall, other.wall), cpu: max(cpu, other.cpu)) }
    }

    /// CPU time of the calling thread.
    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// User + system time of every terminated, reaped child.
    static func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_CHILDREN.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// One run of the guest in a fresh machine: wall exits/s from the first doorbell exit to the DebugExit
    /// power-off, and doorbells per CPU-second of the run loop's thread over the whole run.
    func measureVMHost(guest: String, commandLine: String, registry: PluginRegistry, mmio: Bool) throws -> Rates {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 64 << 20))
        let pdm = PDMCore()
        try pdm.construct(config: VMConfiguration(devices: [DeviceConfig(name: "Scratchpad"),
                                                            DeviceConfig(name: "DebugExit")]),
                          registry: registry, services: MachineServices(machine: machine))
        defer { pdm.destroy() }
        try machine.loadPVHKernel(path: guest, commandLine: commandLine)
        machine.freezeIORanges()
        try pdm.powerOn()
        defer { try? pdm.powerOff() }
        guard let runner = machine.runner(forVCPU: 0) else { throw BenchError(description: "no vCPU 0") }
        let run = runner.vcpu.runState
        let doorbellPort: UInt16 = 0x518
        let doorbellAddress: UInt64 = 0xd000_0104

        var first: UInt64 = 0
        var doorbells = 0
        let cpuStart = Self.threadCPUSeconds()
        while true {
            let outcome = runner.runOnce()
            switch outcome {
            case .continue:
                let reason = run.exitReason
                let isDoorbell = mmio ? (reason == .mmio && run.mmio.physicalAddress == doorbellAddress)
                                      : (reason == .io && run.io.port == doorbellPort)
                if isDoorbell {
                    if doorbells == 0 { first = DispatchTime.now().uptimeNanoseconds }
                    doorbells += 1
                }
            case .powerOffRequested:
                let end = DispatchTime.now().uptimeNanoseconds
                let cpu = Self.threadCPUSeconds() - cpuStart
                guard doorbells > 1, end > first, cpu > 0 else { throw BenchError(description: "no doorbell exits seen") }
                return Rates(wall: Double(doorbells - 1) / (Double(end - first) / 1e9), cpu: Double(doorbells) / cpu)
            case .interrupted, .suspendRequested:
                runner.clearImmediateExit()
            case .halted:
                throw BenchError(description: "guest halted before DebugExit")
            case .shutdown(let reason, let regs), .internalError(let reason, let regs), .failEntry(let reason, let regs):
                throw BenchError(description: "\(reason)\n\(regs)")
            }
        }
    }

    /// One run of the C floor program: its own `floor: <mode> ring<r> exits/s = N` line, and doorbells per
    /// CPU-second of the child (user + system time, from the reaped children's usage).
    func measureFloor(_ floor: String, guest: String, commandLine: String) throws -> Rates {
        let cpuBefore = Self.childrenCPUSeconds()
        let output = try Self.shell(floor, ["--cmdline", commandLine, guest], allowedStatus: [0, 1])
        let cpu = Self.childrenCPUSeconds() - cpuBefore
        for line in output.split(separator: "\n") where line.hasPrefix("floor: ") && line.contains("exits/s = ") {
            if let value = line.split(separator: "=").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
                return Rates(wall: value, cpu: cpu > 0 ? Double(count) / cpu : 0)
            }
        }
        throw BenchError(description: "kvm_floor printed no rate: \(output)")
    }

    static func executableFolder() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }

    /// Runs a program, returns its stdout; throws with its output unless it exits with an allowed status.
    @discardableResult
    static func shell(_ program: String, _ arguments: [String], allowedStatus: Set<Int32> = [0]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard allowedStatus.contains(process.terminationStatus) else {
            throw BenchError(description: "\(program) \(arguments.joined(separator: " ")) exited with "
                + "\(process.terminationStatus): \(String(decoding: stderr, as: UTF8.self))")
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}
