import CVMHostABI
import PDM
import PluginTestKit
import Testing

/// libDebugExit.so through the plugin test kit (real PDM, recording VMM).
@Suite(.serialized)
struct DebugExitTests {
    private func harness(_ settings: Settings = [:]) throws -> PluginTestHarness {
        let h = PluginTestHarness()
        try h.loadProduct("DebugExit")
        h.addDevice(DeviceConfig(name: "DebugExit", settings: settings))
        try h.construct()
        return h
    }

    @Test func registration() throws {
        let h = PluginTestHarness()
        try h.loadProduct("DebugExit")
        let type = try #require(h.registry.device(named: "DebugExit"))
        #expect(type.flags == 0)
        #expect(type.order == VMH_DEVORDER_MISC)
        #expect(type.maxInstances == 1)
        #expect(!type.summary.isEmpty)
    }

    @Test func registersDefaultPorts() throws {
        let h = try harness()
        let ranges = h.vmm.portRanges
        #expect(ranges.count == 1)
        #expect(ranges.first?.port == 0x501)
        #expect(ranges.first?.count == 2)
        #expect(h.vmm.mmioRanges.isEmpty)
    }

    @Test(arguments: [(UInt32(1), UInt32(0x00)), (1, 0x10), (1, 0x7f), (2, 0x1234), (4, 0x0012_3456), (1, 0x1ff)])
    func writeRequestsExitStatus(size: UInt32, value: UInt32) throws {
        let h = try harness()
        #expect(h.portOut(0x501, size: size, value: value) == VMH_OK)
        let masked = size >= 4 ? value : value & ((1 << (size * 8)) - 1)
        let requests = h.vmm.powerOffRequests
        #expect(requests.count == 1)
        #expect(requests.first?.exitStatus == Int32(truncatingIfNeeded: (UInt64(masked) << 1) | 1))
    }

    @Test func secondPortAlsoExits() throws {
        let h = try harness()
        h.portOut(0x502, size: 1, value: 3)
        #expect(h.vmm.powerOffRequests.map(\.exitStatus) == [7])
    }

    @Test func readsGiveAllOnes() throws {
        let h = try harness()
        #expect(h.portIn(0x501, size: 1).value == 0xff)
        #expect(h.portIn(0x501, size: 2).value == 0xffff)
        #expect(h.portIn(0x502, size: 4).value == 0xffff_ffff)
        #expect(h.vmm.powerOffRequests.isEmpty)
    }

    @Test func settingsMoveTheRange() throws {
        let h = try harness(["iobase": .integer(0xf4), "iosize": .integer(1)])
        #expect(h.vmm.portRanges.first?.port == 0xf4)
        #expect(h.vmm.portRanges.first?.count == 1)
        h.portOut(0xf4, size: 1, value: 0)
        #expect(h.vmm.powerOffRequests.map(\.exitStatus) == [1])
    }

    @Test func badSettingsFailConstruct() throws {
        for settings: Settings in [["bogus": .integer(1)], ["iobase": .integer(0x1_0000)], ["iobase": .string("x")],
                                   ["iobase": .integer(0xffff), "iosize": .integer(2)]] {
            let h = PluginTestHarness()
            try h.loadProduct("DebugExit")
            h.addDevice(DeviceConfig(name: "DebugExit", settings: settings))
            #expect(throws: PDMError.self) { try h.construct() }
        }
    }

    @Test func fuzz() throws {
        let h = try harness()
        let stats = h.fuzzIO(iterations: 5_000, seed: 0xdeb6)
        #expect(stats.ranges == 1)
        #expect(stats.failedAccesses == 0)
        #expect(h.vmm.powerOffRequests.count == stats.writes)
        #expect(h.vmm.powerOffRequests.allSatisfy { $0.exitStatus & 1 == 1 })
    }
}
