import ArgumentParser
import Logging
import PDM
import VMM
#if canImport(Glibc)
import Glibc
#endif

/// `vmhost demo`: boots the smp-counter test guest on 2 vCPUs with COM1 on the chain
/// Serial16550 -> AsyncDelay -> Stdio, and walks through the reference choreography with readable lines:
/// running, a suspend that waits for the async driver, frozen guest counters, resume, power-off.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Boot the demo VM and show power-on, suspend (with an async driver), resume and power-off.")

    @Option(name: .customLong("guest"), help: "The smp-counter test guest (built by scripts/build).")
    var guest: String

    @Option(name: .customLong("cpus"), help: "vCPUs.")
    var cpus: Int = 2

    @Option(name: .customLong("flush-ms"), help: "How long the AsyncDelay driver takes to 'flush' on suspend.")
    var flushMilliseconds: Int64 = 400

    @Option(name: .customLong("plugin-path"), help: "A folder of plugin .so files (repeatable; searched first).")
    var pluginPaths: [String] = []

    @OptionGroup var global: GlobalOptions

    /// Status page of the test guests (Tests/Guests/README.md): u64 counter of vCPU n at 0x10000 + 64 n.
    static let counterBase: UInt64 = 0x10000

    func run() throws {
        try global.bootstrapLogging()
        let log = Logger(label: "demo")
        SignalWatcher.blockInProcess()
        var configuration = VMConfiguration()
        configuration.machine = MachineSettings(cpus: cpus, memoryMiB: 64, kernel: guest,
                                                cmdline: "cpus=\(cpus) heartbeat=1024")
        configuration.addDevice(
            DeviceConfig(name: "Serial16550", settings: ["iobase": .integer(0x3f8), "irq": .integer(4)])
                .lun(0, DriverConfig(name: "AsyncDelay", settings: ["delay-ms": .integer(flushMilliseconds)],
                                     below: DriverConfig(name: "Stdio"))))
        configuration.addDevice(DeviceConfig(name: "DebugExit"))

        log.notice("step 1/5: power on \(cpus) vCPUs; the guest counts in ring 3 on every vCPU")
        let vm = try VMLauncher.launch(configuration: configuration, pluginPaths: pluginPaths, logger: log)
        SignalWatcher.start { _ in vm.requestPowerOff(exitStatus: 130) }
        sleepMilliseconds(1500)
        log.notice("guest counters: \(counters(vm))")

        log.notice("step 2/5: suspend — EMT rendezvous; EMT 0 walks the devices; AsyncDelay asks for more time")
        let suspendStart = ContinuousClock.now
        _ = try vm.suspend(reason: .user)
        log.notice("state \(vm.state) after \(milliseconds(since: suspendStart)) ms (the driver's flush took \(flushMilliseconds) ms)")

        let frozen = counters(vm)
        sleepMilliseconds(500)
        let later = counters(vm)
        log.notice("step 3/5: while suspended: \(frozen) -> after 500 ms \(later): \(frozen == later ? "frozen, no vCPU runs guest code" : "MOVED (bug)")")

        log.notice("step 4/5: resume")
        let resumeStart = ContinuousClock.now
        _ = try vm.resume()
        log.notice("state \(vm.state) after \(milliseconds(since: resumeStart)) ms")
        sleepMilliseconds(1000)
        log.notice("guest counters: \(counters(vm)) (advancing again)")

        log.notice("step 5/5: power off — the walk waits for AsyncDelay once more")
        _ = try vm.powerOff()
        try vm.destroy()
        log.notice("demo done: state \(vm.state)")
        if frozen != later { throw ExitCode(1) }
    }

    private func counters(_ vm: VirtualMachine) -> [UInt64] {
        guard let memory = vm.parts?.machine.memory else { return [] }
        return (0..<cpus).map { n in
            (try? memory.pointer(to: UInt64.self, at: Self.counterBase + 64 * UInt64(n)).pointee) ?? 0
        }
    }
}

func sleepMilliseconds(_ ms: Int) {
    var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

func milliseconds(since start: ContinuousClock.Instant) -> String {
    let (s, atto) = (ContinuousClock.now - start).components
    let us = s * 1_000_000 + atto / 1_000_000_000_000
    return "\(us / 1000).\(String(repeating: "0", count: 3 - String(us % 1000).count))\(us % 1000)"
}
