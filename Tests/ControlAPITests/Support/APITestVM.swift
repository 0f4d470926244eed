import ControlAPI
import Glibc
import Logging
import PDM
import PluginTestKit
import VMM

/// A VM for API tests: fake vCPUs over the real EMTs and state machine, the real PDM with the test kit's stub
/// plugins (a `Stub` device with one LUN and a `StubDriver` chain, whose suspend goes async for `asyncMs`), and a
/// control server on a socket in a private directory.
final class APITestVM: @unchecked Sendable {
    let directory: String
    let socketPath: String
    let vm: VirtualMachine
    let cpus: [FakeVCPU]
    let harness: PluginTestHarness
    let server: ControlServer
    let timeline = BootTimeline()

    init(vcpus: Int = 2, asyncMs: Int64 = 0, limits: ControlServerLimits = ControlServerLimits(),
         powerOn: Bool = true) throws {
        directory = makePrivateDirectory()
        socketPath = directory + "/api.sock"
        harness = PluginTestHarness(asyncDeadlineMilliseconds: 10_000)
        try harness.registerStubs()
        var settings: Settings = ["luns": .integer(1)]
        if asyncMs > 0 {
            settings["async-ms"] = .integer(asyncMs)
            settings["async-on"] = .string("suspend")
        }
        harness.addDevice(DeviceConfig(name: "Stub", settings: settings)
            .lun(0, DriverConfig(name: "StubDriver", below: DriverConfig(name: "StubDriver"))))
        harness.addDevice(DeviceConfig(name: "StubFirst"))
        try harness.construct()
        cpus = (0..<vcpus).map { FakeVCPU(id: $0) }
        var logger = Logger(label: "test.vm")
        logger.logLevel = .critical
        vm = try VirtualMachine(vcpus: cpus, devices: PDMDeviceControl(pdm: harness.pdm), machine: nil, logger: logger)
        var apiLogger = Logger(label: "test.api")
        apiLogger.logLevel = .critical
        server = try ControlServer.start(vm: vm, socketPath: socketPath, devices: DeviceInfo.source(for: harness.pdm),
                                         timeline: timeline, limits: limits, logger: apiLogger)
        server.follow(harness.pdm)
        if powerOn { try vm.powerOn() }
    }

    func client() throws -> ControlClient { try ControlClient.connect(socketPath: socketPath, defaultTimeoutMilliseconds: 60_000) }

    func shutdown() {
        server.close()
        if vm.state != .off, vm.state != .created { _ = try? vm.powerOff() }
        try? vm.destroy()
        removeDirectory(directory)
    }

    /// Total guest runs of all fake vCPUs.
    var totalRuns: Int { cpus.reduce(0) { $0 + $1.runs.load(ordering: .relaxed) } }
}
