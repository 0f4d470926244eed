import ArgumentParser
import Logging
import PDM
import PluginTestKit

/// `vmhost-bench pdm-walk`: the cost of a suspend + resume walk over many device instances with driver chains and
/// no async work (goal: < 1 ms for 64 devices × 3-driver chains). Plugin and PDM logging are off.
struct PDMWalkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pdm-walk",
        abstract: "Time PDM suspend+resume walks over N devices with M-driver chains (median / p99 µs).")

    @Option(help: "Device instances.")
    var devices = 64

    @Option(help: "Drivers per device (one LUN chain).")
    var chain = 3

    @Option(help: "Measured suspend+resume iterations (at least 1000 recommended).")
    var iterations = 2000

    @Option(help: "'stub' (in-process test-kit stubs, quiet) or 'probe' (the Probe .so plugins next to this executable).")
    var plugins = "stub"

    func run() throws {
        var quiet = Logger(label: "vmhost-bench.pdm-walk")
        quiet.logLevel = .critical
        let registry = PluginRegistry(logger: quiet)
        let deviceName: String
        let driverName: String
        var settings: Settings = ["luns": .integer(chain > 0 ? 1 : 0)]
        var driverSettings: Settings = [:]
        if plugins == "probe" {
            try registry.load(path: "\(PluginTestHarness.productsDirectory)/libProbeDevice.so")
            try registry.load(path: "\(PluginTestHarness.productsDirectory)/libProbeDriver.so")
            deviceName = "Probe"
            driverName = "Probe"
        } else {
            try StubPlugins.register(in: registry)
            deviceName = "Stub"
            driverName = "StubDriver"
            settings["quiet"] = .bool(true)
            driverSettings["quiet"] = .bool(true)
        }
        var config = VMConfiguration()
        for _ in 0..<devices {
            var device = DeviceConfig(name: deviceName, settings: settings)
            if let top = DriverConfig.chain(Array(repeating: DriverConfig(name: driverName, settings: driverSettings),
                                                  count: chain)) {
                device = device.lun(0, top)
            }
            config.devices.append(device)
        }
        let pdm = PDMCore(logger: quiet, pluginLogger: quiet)
        try pdm.construct(config: config, registry: registry)
        defer { pdm.destroy() }
        try pdm.powerOn()

        let clock = ContinuousClock()
        for _ in 0..<min(100, iterations) {  // warm-up
            try pdm.suspend()
            try pdm.resume()
        }
        var both: [Duration] = []
        var suspendOnly: [Duration] = []
        var resumeOnly: [Duration] = []
        both.reserveCapacity(iterations)
        for _ in 0..<max(1, iterations) {
            let t0 = clock.now
            try pdm.suspend()
            let t1 = clock.now
            try pdm.resume()
            let t2 = clock.now
            both.append(t2 - t0)
            suspendOnly.append(t1 - t0)
            resumeOnly.append(t2 - t1)
        }
        try pdm.powerOff()
        let instances = devices * (1 + chain)
        print("pdm-walk: \(devices) devices × \(chain)-driver chains (\(instances) instances, \(plugins) plugins), "
            + "\(iterations) iterations")
        print("  suspend+resume: median \(Self.micro(Self.percentile(both, 0.5))) µs, "
            + "p99 \(Self.micro(Self.percentile(both, 0.99))) µs, min \(Self.micro(both.min() ?? .zero)) µs "
            + "(goal < 1000 µs)")
        print("  suspend: median \(Self.micro(Self.percentile(suspendOnly, 0.5))) µs; "
            + "resume: median \(Self.micro(Self.percentile(resumeOnly, 0.5))) µs; "
            + "per instance and walk: \(Self.nano(Self.percentile(both, 0.5), divisor: 2 * instances)) ns")
    }

    static func percentile(_ samples: [Duration], _ p: Double) -> Duration {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return .zero }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
    }

    static func micro(_ d: Duration) -> String {
        let us = Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
        return String(Int(us.rounded()))
    }

    static func nano(_ d: Duration, divisor: Int) -> String {
        let ns = Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
        return String(Int((ns / Double(max(1, divisor))).rounded()))
    }
}
