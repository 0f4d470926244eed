import PDM
import PluginTestKit
import Testing

/// Walks over the test kit's in-process stubs (no .so needed).
@Suite struct StubWalkTests {
    func harness(_ devices: [DeviceConfig], deadline: Int64 = 30_000) throws -> PluginTestHarness {
        let h = PluginTestHarness(asyncDeadlineMilliseconds: deadline)
        try h.registerStubs()
        for d in devices { h.addDevice(d) }
        return h
    }

    @Test func constructAndWalkOrder() throws {
        let dev = DeviceConfig(name: "Stub", settings: ["luns": .integer(2)])
            .lun(0, DriverConfig(name: "StubDriver", below: DriverConfig(name: "StubDriver")))
            .lun(1, DriverConfig(name: "StubDriver"))
        let h = try harness([dev, DeviceConfig(name: "StubFirst", settings: ["luns": .integer(1)]).lun(0, DriverConfig(name: "StubDriver"))])
        try h.construct()
        try h.powerOn()
        try h.expectOrder(["Stub/0/0/StubDriver/0: powerOn", "Stub/0/0/StubDriver/1: powerOn", "Stub/0/1/StubDriver/2: powerOn",
                           "Stub/0: powerOn", "StubFirst/0/0/StubDriver/3: powerOn", "StubFirst/0: powerOn"])
        h.clearLog()
        try h.suspend()
        #expect(h.instances(logging: "suspend") == ["Stub/0/0/StubDriver/0", "Stub/0/0/StubDriver/1", "Stub/0/1/StubDriver/2",
                                                    "Stub/0", "StubFirst/0", "StubFirst/0/0/StubDriver/3"])
        h.destroy()
        #expect(h.instances(logging: "destruct") == ["StubFirst/0/0/StubDriver/3", "StubFirst/0", "Stub/0/0/StubDriver/1",
                                                     "Stub/0/0/StubDriver/0", "Stub/0/1/StubDriver/2", "Stub/0"])
    }

    @Test func asyncDriverBlocksOnlyItsLUN() throws {
        let dev = DeviceConfig(name: "Stub", settings: ["luns": .integer(2)])
            .lun(0, DriverConfig(name: "StubDriver", settings: ["async-ms": .integer(50)], below: DriverConfig(name: "StubDriver")))
            .lun(1, DriverConfig(name: "StubDriver"))
        let h = try harness([dev, DeviceConfig(name: "Stub")])
        try h.construct()
        try h.powerOn()
        h.clearLog()
        try h.suspend()
        try h.expectOrder(["Stub/0/0/StubDriver/0: suspend", "Stub/0/1/StubDriver/2: suspend", "Stub/1: suspend",
                           "Stub/0/0/StubDriver/0: suspend-done", "Stub/0/0/StubDriver/1: suspend", "Stub/0: suspend"])
        try h.expectCount("Stub/0/0/StubDriver/0", "suspend", 1)
        #expect(h.progressReports.first?.pending == ["Stub/0/0/StubDriver/0"])
    }
}
