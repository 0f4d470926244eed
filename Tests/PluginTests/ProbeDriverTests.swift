import CVMHostABI
import PDM
import PluginTestKit
import Foundation
import Testing

/// libProbeDriver.so: registration, callbacks, async completion, and queryInterface pass-through to the driver
/// below.
@Suite(.serialized)
struct ProbeDriverTests {
    @Test func probeDriverRegistersProbe() throws {
        let module = try MiniModule(plugin: "ProbeDriver")
        #expect(module.entryStatus == VMH_OK)
        #expect(module.drivers.map { miniName($0.pointee.name) } == ["Probe"])
        let reg = try #require(module.driver("Probe"))
        #expect(reg.pointee.version == miniVersion(0xa020, 1, 0))
        #expect(reg.pointee.hlpVersion == miniVersion(0xa022, 1, 0))
    }

    @Test func driverLogsAndGoesAsync() throws {
        let module = try MiniModule(plugin: "ProbeDriver")
        let reg = try #require(module.driver("Probe"))
        let driver = MiniDriver(reg, settings: ["async-ms": .integer(20)])
        #expect(driver.constructStatus == VMH_OK)
        #expect(reg.pointee.queryInterface?(driver.ins, VMH_IID_CHAR_CONNECTOR) == nil)
        #expect(driver.runAsync(reg.pointee.suspend))
        #expect(reg.pointee.resume?(driver.ins) == VMH_OK)
        #expect(driver.runAsync(reg.pointee.powerOff))
        driver.destruct()
        #expect(driver.state.log == ["construct", "suspend", "suspend-done", "resume", "powerOff", "powerOff-done",
                                     "destruct"])
    }

    @Test func passesInterfacesThroughFromBelow() throws {
        let tag = "probe-driver-pass-through"
        let h = PluginTestHarness()
        try h.loadProduct("Serial16550")
        try h.loadProduct("ProbeDriver")
        try h.registerStatic(moduleName: CharSink.moduleName, entry: CharSink.entry)
        h.addDevice(DeviceConfig(name: "Serial16550")
            .lun(0, DriverConfig(name: "Probe", below: DriverConfig(name: "CharSink", settings: ["tag": .string(tag)]))))
        try h.construct()
        try h.powerOn()
        for byte in Array("via probe".utf8) { h.portOut(0x3f8, size: 1, value: UInt32(byte)) }
        #expect(CharSink.received(tag) == Array("via probe".utf8))
    }

    @Test func withoutADriverBelowOffersNothing() throws {
        let module = try MiniModule(plugin: "ProbeDriver")
        let reg = try #require(module.driver("Probe"))
        let driver = MiniDriver(reg)
        #expect(driver.constructStatus == VMH_OK)
        #expect(reg.pointee.queryInterface?(driver.ins, VMH_IID_CHAR_CONNECTOR) == nil)
        driver.destruct()
    }
}
