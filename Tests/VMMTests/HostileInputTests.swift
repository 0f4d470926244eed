import CVMHostABI
import PDM
import Testing
@testable import VMM

/// Values a plugin may pass that must be refused with a status, never trap the host.
@Suite(.serialized) struct HostileInputTests {
    /// A machine with the real Scratchpad plugin constructed on it (the machine must stay referenced: the
    /// services hold it weakly).
    static func machineWithScratchpad() throws -> (Machine, PDMCore, DeviceInstance) {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 16 << 20))
        let pdm = PDMCore()
        try pdm.construct(config: VMConfiguration(devices: [DeviceConfig(name: "Scratchpad")]),
                          registry: DeviceDispatchTests.registry(), services: MachineServices(machine: machine))
        let device = try #require(pdm.deviceInstances.first)
        return (machine, pdm, device)
    }

    @Test func physAccessWithASizeBeyondIntMaxIsRefused() throws {
        let (machine, pdm, device) = try Self.machineWithScratchpad()
        defer { pdm.destroy() }
        let helpers = try #require(device.devIns.pointee.hlp)
        let physRead = try #require(helpers.pointee.physRead)
        let physWrite = try #require(helpers.pointee.physWrite)
        var byte: UInt8 = 0
        // A C size_t of 2^63 or more arrives negative in Swift.
        #expect(physRead(device.devIns, 0, &byte, Int.min) == VMH_ERR_INVALID_PARAMETER)
        #expect(physWrite(device.devIns, 0, &byte, -1) == VMH_ERR_INVALID_PARAMETER)
        #expect(physRead(device.devIns, 0, &byte, 1) == VMH_OK)
        withExtendedLifetime(machine) {}
    }

    @Test func portRangeSlotsRunOutWithAnErrorNotATrap() throws {
        let (machine, pdm, device) = try Self.machineWithScratchpad()
        defer { pdm.destroy() }
        let table = IORangeTable()
        func range(_ port: UInt16) -> PortIORange {
            PortIORange(base: port, count: 1, device: device, user: nil, input: nil, output: nil, description: "p")
        }
        for port in 0..<UInt16.max { try table.registerPorts(range(port)) }
        #expect(table.registeredPorts.count == Int(UInt16.max))
        // The 65 536th one-port range has no slot number left.
        #expect(throws: IORangeError.self) { try table.registerPorts(range(.max)) }
        #expect(table.owner(ofPort: .max) == nil)
        #expect(table.owner(ofPort: 0x1234)?.base == 0x1234)
        withExtendedLifetime(machine) {}
    }

    @Test func memoryBeyondTheParserLimitIsRefusedNotTruncated() throws {
        var configuration = VMConfiguration()
        // What `--memory` may set, bypassing the parser: 2^44 + 64 MiB once became a 64 MiB machine.
        configuration.machine = MachineSettings(cpus: 1, memoryMiB: (1 << 44) + 64, kernel: "/nonexistent")
        do {
            _ = try VirtualMachine.create(configuration: configuration, registry: PluginRegistry())
            Issue.record("a machine was created with \((1 << 44) + 64) MiB")
        } catch {
            #expect("\(error)".contains("machine.memory-mib must be 1…1048576"))
        }
    }
}
