import ArgumentParser
import TestGuestImages
import Foundation
import PDM
import Synchronization
import VMM

/// `vmhost-bench blk`: the virtio-blk guest on VirtioBlk → Block → RawFile under the real VMM. Sequential write and
/// read throughput and the 4 KiB request rate, with and without ioeventfd/irqfd, and the suspend latency while
/// requests are in flight.
struct BlockBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blk",
        abstract: "virtio-blk guest: sequential MB/s, 4 KiB requests/s (with/without ioeventfd+irqfd), suspend latency with requests in flight.")

    @Option(name: .customLong("image-mib"), help: "Raw image size in MiB (a sparse temporary file).")
    var imageMiB = 256

    @Option(help: "Bytes per request of the sequential runs (multiple of 512, at most 131072).")
    var sequentialBlockSize = 131072

    @Option(help: "4 KiB requests per rate run.")
    var smallRequests = 32768

    @Option(help: "Requests in flight (at most 32).")
    var depth = 32

    @Option(help: "Runs per figure (the best is reported, and the median).")
    var runs = 3

    @Option(help: "Suspend/resume cycles for the suspend-latency figure.")
    var suspendCycles = 20

    @Option(help: "Path of the virtio-blk guest ELF (default: built from Tests/Guests into .build/test-guests).")
    var guest: String?

    func run() throws {
        guard depth >= 1, depth <= 32 else { throw ValidationError("--depth must be 1...32") }
        let guestPath = try guest ?? TestGuests.path("virtio-blk")
        let image = FileManager.default.temporaryDirectory.appendingPathComponent("vmhost-blk-bench-\(getpid()).img").path
        guard FileManager.default.createFile(atPath: image, contents: nil),
              let handle = FileHandle(forWritingAtPath: image) else { throw ValidationError("cannot create \(image)") }
        try handle.truncate(atOffset: UInt64(imageMiB) << 20)
        try handle.close()
        defer { unlink(image) }
        let bench = BlockBenchRunner(guest: guestPath, image: image, depth: depth)

        let imageBytes = UInt64(imageMiB) << 20
        let sequentialBlocks = imageBytes / UInt64(sequentialBlockSize)
        let smallBlocks = min(UInt64(smallRequests), imageBytes / 4096)
        print("blk: guest virtio-blk (polling, ring 3), image \(imageMiB) MiB raw file in \(FileManager.default.temporaryDirectory.path) "
              + "(writes land in the page cache), depth \(depth), best/median of \(runs) runs")
        for kernelEvents in [true, false] {
            let label = kernelEvents ? "ioeventfd+irqfd" : "exits+setIrq   "
            let baseline = try bench.best(runs: runs, kernelEvents: kernelEvents, "op=read blocks=0")
            let write = try bench.best(runs: runs, kernelEvents: kernelEvents,
                                       "op=write fill=0 bs=\(sequentialBlockSize) blocks=\(sequentialBlocks)")
            let read = try bench.best(runs: runs, kernelEvents: kernelEvents,
                                      "op=read bs=\(sequentialBlockSize) blocks=\(sequentialBlocks)")
            let small = try bench.best(runs: runs, kernelEvents: kernelEvents, "op=read bs=4096 blocks=\(smallBlocks)")
            let smallWrite = try bench.best(runs: runs, kernelEvents: kernelEvents,
                                            "op=write fill=0 bs=4096 blocks=\(smallBlocks)")
            func rate(_ t: BlockBenchRunner.Timing, units: Double) -> (best: Double, median: Double) {
                (units / max(t.best - baseline.best, 1e-6), units / max(t.median - baseline.median, 1e-6))
            }
            let mb = Double(imageBytes) / 1e6
            let w = rate(write, units: mb), r = rate(read, units: mb)
            let s = rate(small, units: Double(smallBlocks)), sw = rate(smallWrite, units: Double(smallBlocks))
            print(String(format: "blk: %@  seq write %.0f MB/s (median %.0f)   seq read %.0f MB/s (median %.0f)   "
                         + "4 KiB read %.0f req/s (median %.0f)   4 KiB write %.0f req/s (median %.0f)   "
                         + "[boot+exit baseline %.1f ms]",
                         label, w.best, w.median, r.best, r.median, s.best, s.median, sw.best, sw.median,
                         baseline.best * 1000))
        }
        for writethrough in [true, false] {
            let result = try bench.suspendLatency(cycles: suspendCycles, writethrough: writethrough)
            print(String(format: "blk: suspend with up to %d requests in flight (RawFile %@): median %.2f ms, max %.2f ms "
                         + "over %d cycles; Block waited in %d of them (up to %d requests in flight at the walk)",
                         depth, writethrough ? "writethrough/O_DSYNC" : "page cache", result.median, result.max,
                         suspendCycles, result.waited, result.maxInFlight))
        }
    }
}

/// Runs the virtio-blk guest in fresh VMs.
struct BlockBenchRunner {
    let guest: String
    let image: String
    let depth: Int

    struct Timing {
        var best: Double
        var median: Double
    }

    static let cmdlineDevice = "virtio_mmio.device=512@0xd0001000:10"

    static func registry() throws -> PluginRegistry {
        let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let registry = PluginRegistry()
        for plugin in ["DebugExit", "VirtioBlk", "Block", "RawFile"] {
            _ = try registry.load(path: folder.appendingPathComponent("lib\(plugin).so").path)
        }
        return registry
    }

    func makeVM(_ cmdline: String, kernelEvents: Bool, writethrough: Bool = false,
                pdm: PDMCore = PDMCore()) throws -> VirtualMachine {
        var config = VMConfiguration()
        config.machine = MachineSettings(cpus: 1, memoryMiB: 64, kernel: guest,
                                         cmdline: "\(Self.cmdlineDevice) depth=\(depth) \(cmdline)")
        config.pdm = PDMSettings(asyncDeadlineMilliseconds: 60_000)
        let raw = DriverConfig(name: "RawFile", settings: ["path": .string(image), "writethrough": .bool(writethrough)])
        config.devices = [
            DeviceConfig(name: "DebugExit"),
            DeviceConfig(name: "VirtioBlk", settings: ["ioeventfd": .bool(kernelEvents), "irqfd": .bool(kernelEvents)])
                .lun(0, DriverConfig(name: "Block", below: raw)),
        ]
        return try VirtualMachine.create(configuration: config, registry: try Self.registry(), pdm: pdm)
    }

    /// Seconds from power-on to OFF (the guest's DebugExit), for `runs` fresh VMs.
    func best(runs: Int, kernelEvents: Bool, _ cmdline: String) throws -> Timing {
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            let vm = try makeVM(cmdline, kernelEvents: kernelEvents)
            let start = BlockBenchClock.seconds()
            try vm.powerOn()
            guard vm.waitForState(timeoutNanoseconds: 300_000_000_000, { $0 == .off }) == .off else {
                throw ValidationError("the guest did not finish (\(cmdline))")
            }
            let elapsed = BlockBenchClock.seconds() - start
            let status = vm.requestedExitStatus
            try vm.destroy()
            guard status == 1 else { throw ValidationError("the guest failed (exit status \(status ?? -1)) for: \(cmdline)") }
            times.append(elapsed)
        }
        times.sort()
        return Timing(best: times[0], median: times[times.count / 2])
    }

    /// Suspend/resume cycles while the guest keeps `depth` write requests in flight; suspend() call durations.
    func suspendLatency(cycles: Int, writethrough: Bool) throws
        -> (median: Double, max: Double, waited: Int, maxInFlight: Int)
    {
        let pdm = PDMCore()
        let waits = Mutex<[Int]>([])
        pdm.pluginLogObserver = { record in
            guard record.instance == "VirtioBlk/0/0/Block/0", record.message.hasPrefix("waiting for ") else { return }
            let n = Int(record.message.split(separator: " ")[2]) ?? 0
            waits.withLock { $0.append(n) }
        }
        let vm = try makeVM("op=write fill=0 bs=4096 blocks=16384 repeat=100000", kernelEvents: true,
                            writethrough: writethrough, pdm: pdm)
        guard let memory = vm.parts?.machine.memory else { throw ValidationError("VM without a machine") }
        try vm.powerOn()
        var spins = 0
        while ((try? memory.load(UInt64.self, at: 0x10000)) ?? 0) < 100 {
            usleep(1000)
            spins += 1
            if spins > 30_000 { throw ValidationError("the guest never got going") }
        }
        var durations: [Double] = []
        for _ in 0..<cycles {
            usleep(20_000)
            let t0 = BlockBenchClock.seconds()
            try vm.suspend()
            durations.append((BlockBenchClock.seconds() - t0) * 1000)
            try vm.resume()
        }
        try vm.powerOff()
        try vm.destroy()
        durations.sort()
        let waited = waits.withLock { $0 }
        return (durations[durations.count / 2], durations.last ?? 0, waited.count, waited.max() ?? 0)
    }
}

private enum BlockBenchClock {
    static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
