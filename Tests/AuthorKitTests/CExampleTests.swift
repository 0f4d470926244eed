import Foundation
import PluginTestKit
import Testing

/// Examples/CPlugin: tally.c built with the Makefile's strict flags against the ABI header alone, loaded by the
/// real registry and driven through the plugin test kit; and its own C test driver.
@Suite(.serialized)
struct CExampleTests {
    /// libTally.so compiled into a fresh folder from `header` (the current one unless given).
    private func buildTally(header: URL = Workspace.currentHeaderDirectory, label: String = "tally") throws -> URL {
        let dir = try Workspace.temporaryDirectory(label)
        return try Workspace.compileC([Workspace.cExample.appendingPathComponent("tally.c")],
                                      includeDirectory: header, into: dir, as: "libTally.so")
    }

    @Test func loadsAndRegistersTally() throws {
        let h = PluginTestHarness()
        let module = try h.loadPlugin(path: try buildTally().path)
        #expect(module.name == "Tally")
        #expect(module.deviceNames == ["Tally"])
        #expect(module.driverNames.isEmpty)
        #expect(module.abiNote != nil)
        let type = try #require(h.registry.device(named: "Tally"))
        #expect(type.maxInstances == 4)
        #expect(type.order == VMH_DEVORDER_MISC)
        #expect(type.flags == 0)
    }

    @Test func countsGuestWritesThroughTheRealPDM() throws {
        let h = PluginTestHarness()
        try h.loadPlugin(path: try buildTally().path)
        h.addDevice(DeviceConfig(name: "Tally", settings: ["iobase": .integer(0x610), "irq": .integer(9)]))
        try h.construct()
        try h.powerOn()
        #expect(h.vmm.portRanges.map(\.port) == [0x610])
        #expect(h.vmm.portRanges.map(\.count) == [4])
        h.portOut(0x610, size: 4, value: 1000)
        h.portOut(0x610, size: 2, value: 0x1_0024)  // only the low 16 bits count: 36
        #expect(h.portIn(0x610, size: 4).value == 1036)
        #expect(h.portIn(0x611, size: 1).value == 2)
        #expect(h.portIn(0x613, size: 2).value == 0x7a11)
        h.portOut(0x612, value: 1)
        h.portOut(0x612, value: 0)
        #expect(h.vmm.irqHistory == [.init(device: "Tally/0", irq: 9, level: 1), .init(device: "Tally/0", irq: 9, level: 0)])
        try h.reset()
        #expect(h.portIn(0x610, size: 4).value == 0)
        #expect(h.messages(of: "Tally/0").contains("ports 0x610..0x613, irq 9"))
        #expect(h.messages(of: "Tally/0").contains("reset"))
    }

    @Test func refusesABadIobaseNamingTheSetting() throws {
        let h = PluginTestHarness()
        try h.loadPlugin(path: try buildTally().path)
        h.addDevice(DeviceConfig(name: "Tally", settings: ["iobase": .integer(0xfffe)]))
        do {
            try h.construct()
            Issue.record("construct accepted iobase 0xfffe")
        } catch {
            #expect("\(error)".contains("iobase"), "\(error)")
        }
    }

    @Test func survivesRandomGuestIO() throws {
        let h = PluginTestHarness()
        try h.loadPlugin(path: try buildTally().path)
        h.addDevice(DeviceConfig(name: "Tally"))
        try h.construct()
        let stats = h.fuzzIO(iterations: 5_000, seed: 42)
        #expect(stats.ranges == 1)
        #expect(stats.failedAccesses == 0)
    }

    /// The example's own C test driver (a stand-in host) passes against the .so built here.
    @Test func cTestDriverPasses() throws {
        let so = try buildTally(label: "tally-driver")
        let dir = so.deletingLastPathComponent()
        let driver = try Workspace.compileC([Workspace.cExample.appendingPathComponent("test_tally.c")],
                                            includeDirectory: Workspace.currentHeaderDirectory, into: dir,
                                            as: "test_tally", shared: false)
        let outcome = try Workspace.run([driver.path, so.path])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.output.contains(" passed, 0 failed"), "\(outcome)")
    }
}
