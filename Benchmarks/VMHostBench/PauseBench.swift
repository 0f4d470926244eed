import ArgumentParser
import TestGuestImages
import Foundation
import PDM
import Synchronization
import VMM

/// `vmhost-bench pause`: suspend/resume latency of a VM whose vCPUs are busy in guest ring 3 (smp-counter).
struct PauseBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Suspend/resume latency with busy vCPUs (smp-counter guest): request -> SUSPENDED / -> RUNNING.")

    @Option(help: "Suspend/resume cycles to measure.")
    var cycles = 300

    @Option(help: "Unmeasured warm-up cycles.")
    var warmup = 10

    @Option(help: "vCPUs (all busy in ring 3).")
    var cpus = 2

    @Option(help: "Path of the smp-counter guest ELF (default: built from Tests/Guests into .build/test-guests).")
    var guest: String?

    @Flag(help: "Add a Probe device (synchronous suspend/resume callbacks) so the PDM walks have an instance.")
    var probe = false

    func run() throws {
        let guestPath = try guest ?? TestGuests.path("smp-counter")
        var config = VMConfiguration()
        config.machine = MachineSettings(cpus: cpus, memoryMiB: 64, kernel: guestPath, cmdline: "cpus=\(cpus)")
        let registry = PluginRegistry()
        if probe {
            let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            _ = try registry.load(path: folder.appendingPathComponent("libProbeDevice.so").path)
            config.devices.append(DeviceConfig(name: "Probe"))
        }
        let vm = try VirtualMachine.create(configuration: config, registry: registry)
        guard let memory = vm.parts?.machine.memory else { throw ValidationError("VM without a machine") }
        func counters() -> [UInt64] {
            (0..<cpus).map { (try? memory.load(UInt64.self, at: 0x10000 + 64 * UInt64($0))) ?? 0 }
        }

        // Timestamps of the state transitions, taken by the listener on the EMT that makes them.
        let reached = Mutex<[VMState: UInt64]>([:])
        vm.stateMachine.addListener { new, _ in
            let now = PauseClock.nanoseconds()
            reached.withLock { $0[new] = now }
        }

        try vm.powerOn()
        // Wait until every vCPU counts in ring 3.
        let start = counters()
        var waited = 0
        while zip(counters(), start).contains(where: { $0 <= $1 }) {
            usleep(1000)
            waited += 1
            if waited > 10_000 { throw ValidationError("the guest's vCPUs never started counting") }
        }

        var toSuspended: [Double] = []
        var toSuspending: [Double] = []
        var suspendReturn: [Double] = []
        var toRunning: [Double] = []
        var resumeReturn: [Double] = []
        var frozenViolations = 0
        for cycle in 0..<(warmup + cycles) {
            let t0 = PauseClock.nanoseconds()
            try vm.suspend()
            let t1 = PauseClock.nanoseconds()
            let atSuspend = counters()
            let tSuspended = reached.withLock { $0[.suspended] } ?? t1
            let tSuspending = reached.withLock { $0[.suspending] } ?? t1
            if cycle >= warmup { toSuspending.append(Double(tSuspending - t0) / 1000) }
            usleep(200)
            if counters() != atSuspend { frozenViolations += 1 }

            let t2 = PauseClock.nanoseconds()
            try vm.resume()
            let t3 = PauseClock.nanoseconds()
            let tRunning = reached.withLock { $0[.running] } ?? t3
            // Let every vCPU get back into ring 3 before the next cycle.
            var spins = 0
            while zip(counters(), atSuspend).contains(where: { $0 <= $1 }), spins < 1000 {
                usleep(100)
                spins += 1
            }
            if cycle >= warmup {
                toSuspended.append(Double(tSuspended - t0) / 1000)
                suspendReturn.append(Double(t1 - t0) / 1000)
                toRunning.append(Double(tRunning - t2) / 1000)
                resumeReturn.append(Double(t3 - t2) / 1000)
            }
        }
        try vm.powerOff()
        try vm.destroy()

        print("pause: \(cycles) suspend/resume cycles, \(cpus) vCPUs busy in ring 3 (smp-counter)\(probe ? ", Probe device" : "")")
        print("  counters moved while suspended: \(frozenViolations) times (must be 0)")
        PauseStats.print("request -> SUSPENDING     ", toSuspending)
        PauseStats.print("request -> SUSPENDED      ", toSuspended)
        PauseStats.print("suspend() returned        ", suspendReturn)
        PauseStats.print("request -> RUNNING        ", toRunning)
        PauseStats.print("resume() returned         ", resumeReturn)
        print("  goals: median <= 300 us, p99 <= 1000 us (QEMU QMP stop with 2 busy vCPUs: median ~950 us)")
    }
}

private enum PauseClock {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

private enum PauseStats {
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let index = min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)
        return sorted[max(0, index)]
    }

    static func print(_ label: String, _ samples: [Double]) {
        let sorted = samples.sorted()
        func f(_ v: Double) -> String { String(format: "%7.1f", v) }
        Swift.print("  \(label) median \(f(percentile(sorted, 50))) us  p90 \(f(percentile(sorted, 90))) us  "
            + "p99 \(f(percentile(sorted, 99))) us  max \(f(sorted.last ?? .nan)) us  (n=\(sorted.count))")
    }
}
