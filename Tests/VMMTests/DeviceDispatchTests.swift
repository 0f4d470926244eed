import CVMHostABI
import Foundation
import KVM
import PDM
import Testing
import VMM

/// The machine with real device plugins (`.so` files from the build folder) constructed by the real PDM through
/// `MachineServices`, running real guests.
@Suite(.serialized) struct DeviceDispatchTests {
    /// The folder of the test executable, where SwiftPM puts `lib<Plugin>.so`.
    static var pluginFolder: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }

    /// A registry with the real Scratchpad, DebugExit and Serial16550 plugins and the in-process capture driver.
    static func registry() throws -> PluginRegistry {
        let registry = PluginRegistry()
        for plugin in ["Scratchpad", "DebugExit", "Serial16550"] {
            try registry.load(path: "\(pluginFolder)/lib\(plugin).so")
        }
        try CaptureDriver.register(in: registry)
        return registry
    }

    static let serialToCapture = DeviceConfig(
        name: "Serial16550", luns: [LUNConfig(lun: 0, driver: DriverConfig(name: CaptureDriver.name))])

    /// Machine + PDM with `devices`, kernel loaded, ranges frozen, devices powered on.
    static func boot(_ guest: String, devices: [DeviceConfig], commandLine: String = "",
                     memory: UInt64 = 64 << 20) throws -> (Machine, PDMCore, VCPURunner) {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: memory))
        let pdm = PDMCore()
        try pdm.construct(config: VMConfiguration(devices: devices), registry: registry(),
                          services: MachineServices(machine: machine))
        try machine.loadPVHKernel(path: TestGuests.path(guest), commandLine: commandLine)
        machine.freezeIORanges()
        try pdm.powerOn()
        let runner = try #require(machine.runner(forVCPU: 0))
        return (machine, pdm, runner)
    }

    @Test func helloLineReachesTheCaptureThroughSerial16550() throws {
        CaptureDriver.clear()
        let (_, pdm, runner) = try Self.boot("hello", devices: [Self.serialToCapture, DeviceConfig(name: "DebugExit")])
        defer { try? pdm.powerOff(); pdm.destroy() }
        let result = GuestRunLoop.run(runner) { $0 != .continue }
        #expect(!result.timedOut)
        #expect(result.outcome == .powerOffRequested(exitStatus: (0x10 << 1) | 1))
        #expect(CaptureDriver.text == "hello: VMHost PVH test guest reached ring 3\n")
    }

    @Test func deviceIOGuestPassesAgainstScratchpad() throws {
        CaptureDriver.clear()
        let (machine, pdm, runner) = try Self.boot(
            "device-io", devices: [Self.serialToCapture, DeviceConfig(name: "DebugExit"), DeviceConfig(name: "Scratchpad")])
        defer { try? pdm.powerOff(); pdm.destroy() }
        let result = GuestRunLoop.run(runner) { $0 != .continue }
        #expect(!result.timedOut)
        #expect(CaptureDriver.text.contains("device-io: PASS"), "guest said: \(CaptureDriver.text)")
        #expect(result.outcome == .powerOffRequested(exitStatus: 1))
        #expect(machine.dispatcher.handlerFailures == 0)
    }

    @Test func resetRestartsTheGuestAfterATripleFault() throws {
        CaptureDriver.clear()
        let (machine, pdm, runner) = try Self.boot("triple-fault", devices: [Self.serialToCapture])
        defer { try? pdm.powerOff(); pdm.destroy() }
        let line = "triple-fault: loading an empty IDT\n"
        for round in 1...2 {
            let result = GuestRunLoop.run(runner) { $0 != .continue }
            #expect(!result.timedOut)
            guard case .shutdown = result.outcome else {
                Issue.record("round \(round): expected a shutdown, got \(String(describing: result.outcome))")
                return
            }
            #expect(CaptureDriver.text == String(repeating: line, count: round))
            try machine.resetPlatform()
            try runner.resetToPowerOnState()
        }
    }

    @Test func machineIsReleasedWhenTheVMGoesAway() throws {
        weak var released: Machine?
        weak var releasedServices: MachineServices?
        do {
            let machine = try Machine(configuration: MachineConfiguration(memorySize: 16 << 20))
            let services = MachineServices(machine: machine)
            let pdm = PDMCore()
            try pdm.construct(config: VMConfiguration(devices: [DeviceConfig(name: "Scratchpad")]),
                              registry: Self.registry(), services: services)
            _ = machine.runner(forVCPU: 0)
            released = machine
            releasedServices = services
            pdm.destroy()
        }
        // No reference cycle (device → services → machine → I/O table → device): RAM and KVM fds are freed.
        #expect(released == nil)
        #expect(releasedServices == nil)
    }

    @Test func portConflictNamesBothOwners() throws {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 16 << 20))
        let services = MachineServices(machine: machine)
        let pdm = PDMCore()
        defer { pdm.destroy() }
        let config = VMConfiguration(devices: [
            DeviceConfig(name: "Scratchpad"),
            DeviceConfig(name: "Scratchpad", settings: ["mmio-base": .integer(0xd000_1000)]),
        ])
        #expect(throws: (any Error).self) {
            try pdm.construct(config: config, registry: Self.registry(), services: services)
        }
        let refusal = try #require(services.registrationErrors.first)
        #expect(refusal.description.contains("Scratchpad/1"))
        #expect(refusal.description.contains("Scratchpad/0"))
        #expect(refusal.description.contains("0x510"))
    }

    @Test func mmioInsideRAMIsRefused() throws {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 16 << 20))
        let services = MachineServices(machine: machine)
        let pdm = PDMCore()
        defer { pdm.destroy() }
        let config = VMConfiguration(devices: [DeviceConfig(name: "Scratchpad", settings: ["mmio-base": .integer(0x20_0000)])])
        #expect(throws: (any Error).self) {
            try pdm.construct(config: config, registry: Self.registry(), services: services)
        }
        guard case .overlapsRAM(let range, let owner) = services.registrationErrors.first else {
            Issue.record("expected an overlaps-RAM refusal, got \(services.registrationErrors)")
            return
        }
        #expect(owner == "Scratchpad/0")
        #expect(range.hasPrefix("[0x200000-"))
    }

    @Test func dispatcherCallsScratchpadAndAnswersUnclaimedAccesses() throws {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 16 << 20))
        let pdm = PDMCore()
        defer { pdm.destroy() }
        try pdm.construct(config: VMConfiguration(devices: [DeviceConfig(name: "Scratchpad")]),
                          registry: Self.registry(), services: MachineServices(machine: machine))
        machine.freezeIORanges()
        let d = machine.dispatcher
        let data = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
        defer { data.deallocate() }

        // Port latch: write 32 bits, read back 32 and 8 bits.
        data.storeBytes(of: UInt32(0xa1b2_c3d4), as: UInt32.self)
        d.dispatch(KVMIOExit(direction: .out, size: 4, port: 0x510, count: 1, data: data))
        data.storeBytes(of: UInt32(0), as: UInt32.self)
        d.dispatch(KVMIOExit(direction: .in, size: 4, port: 0x510, count: 1, data: data))
        #expect(data.load(as: UInt32.self) == 0xa1b2_c3d4)
        d.dispatch(KVMIOExit(direction: .in, size: 1, port: 0x510, count: 1, data: data))
        #expect(data.load(as: UInt8.self) == 0xd4)
        // rep outs of three doorbell writes, then the write counter (latch write + 3 doorbells = 4).
        d.dispatch(KVMIOExit(direction: .out, size: 4, port: 0x518, count: 3, data: data))
        d.dispatch(KVMIOExit(direction: .in, size: 4, port: 0x514, count: 1, data: data))
        #expect(data.load(as: UInt32.self) == 4)

        // MMIO scratch register and write counter.
        data.storeBytes(of: UInt32(0x5566_7788), as: UInt32.self)
        d.dispatch(KVMMMIOExit(physicalAddress: 0xd000_0010, length: 4, isWrite: true, data: data))
        data.storeBytes(of: UInt64(0), as: UInt64.self)
        d.dispatch(KVMMMIOExit(physicalAddress: 0xd000_0010, length: 4, isWrite: false, data: data))
        #expect(data.load(as: UInt32.self) == 0x5566_7788)
        d.dispatch(KVMMMIOExit(physicalAddress: 0xd000_0100, length: 4, isWrite: false, data: data))
        #expect(data.load(as: UInt32.self) == 1)

        // Unclaimed: reads all-ones, writes dropped, both counted.
        data.storeBytes(of: UInt32(0), as: UInt32.self)
        d.dispatch(KVMIOExit(direction: .in, size: 2, port: 0x1234, count: 1, data: data))
        #expect(data.load(as: UInt16.self) == 0xffff)
        d.dispatch(KVMIOExit(direction: .out, size: 1, port: 0x1234, count: 1, data: data))
        d.dispatch(KVMMMIOExit(physicalAddress: 0xe000_0000, length: 8, isWrite: false, data: data))
        #expect(data.load(as: UInt64.self) == .max)
        d.dispatch(KVMMMIOExit(physicalAddress: 0xe000_0000, length: 4, isWrite: true, data: data))
        #expect(d.unclaimedPortReads == 1)
        #expect(d.unclaimedPortWrites == 1)
        #expect(d.unclaimedMMIOReads == 1)
        #expect(d.unclaimedMMIOWrites == 1)
        // Registration after the freeze is refused.
        #expect(machine.ioRanges.isFrozen)
    }
}
