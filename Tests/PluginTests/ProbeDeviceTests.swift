import CVMHostABI
import PDM
import PluginTestKit
import Foundation
import Testing

/// libProbeDevice.so (Probe and ProbeFirst): registration, SDK version checks and every callback, with the
/// minimal in-test host (MiniHost.swift) that can also play an incompatible host.
@Suite(.serialized)
struct ProbeDeviceTests {
    @Test func probeDeviceRegistersProbeAndProbeFirst() throws {
        let module = try MiniModule(plugin: "ProbeDevice")
        #expect(module.entryStatus == VMH_OK)
        #expect(module.devices.map { miniName($0.pointee.name) } == ["Probe", "ProbeFirst"])
        #expect(module.drivers.isEmpty)
        let probe = try #require(module.device("Probe"))
        let first = try #require(module.device("ProbeFirst"))
        #expect(probe.pointee.flags == 0)
        #expect(first.pointee.flags
                == VMH_DEVREG_F_FIRST_SUSPEND | VMH_DEVREG_F_FIRST_POWEROFF | VMH_DEVREG_F_FIRST_RESET)
        #expect(first.pointee.order == VMH_DEVORDER_MISC)
        for reg in [probe, first] {
            #expect(reg.pointee.version == miniVersion(0xa010, 1, 0))
            #expect(reg.pointee.versionEnd == reg.pointee.version)
            #expect(reg.pointee.hlpVersion == miniVersion(0xa012, 1, 2))
            #expect(reg.pointee.maxInstances > 0)
            #expect(reg.pointee.construct != nil)
        }
    }

    @Test func entryRefusesNewerMajorHostABI() throws {
        let module = try MiniModule(plugin: "ProbeDevice", abiVersion: miniVersion(0x564d, 2, 0))
        #expect(module.entryStatus == VMH_ERR_VERSION_MISMATCH)
        #expect(module.devices.isEmpty)
    }

    @Test func constructRefusesOlderInstanceVersion() throws {
        let module = try MiniModule(plugin: "ProbeDevice")
        let reg = try #require(module.device("Probe"))
        let device = MiniDevice(reg, instanceVersion: miniVersion(0xa011, 0, 9))
        #expect(device.constructStatus == VMH_ERR_VERSION_MISMATCH)
        device.destruct()
    }

    @Test func deviceLogsEveryCallbackInOrder() throws {
        let module = try MiniModule(plugin: "ProbeDevice")
        let reg = try #require(module.device("Probe"))
        let device = MiniDevice(reg, settings: ["luns": .integer(2)])
        #expect(device.constructStatus == VMH_OK)
        #expect(reg.pointee.initComplete?(device.ins) == VMH_OK)
        #expect(reg.pointee.powerOn?(device.ins) == VMH_OK)
        #expect(device.runAsync(reg.pointee.suspend))
        #expect(reg.pointee.resume?(device.ins) == VMH_OK)
        #expect(device.runAsync(reg.pointee.reset))
        #expect(device.runAsync(reg.pointee.powerOff))
        device.destruct()
        #expect(device.state.log == ["construct", "initComplete", "powerOn", "suspend", "resume", "reset",
                                     "powerOff", "destruct"])
    }

    @Test(arguments: ["construct", "initComplete", "powerOn", "resume"])
    func failOnMakesThatCallbackFail(callback: String) throws {
        let module = try MiniModule(plugin: "ProbeDevice")
        let reg = try #require(module.device("Probe"))
        let device = MiniDevice(reg, settings: ["fail-on": .string(callback)])
        defer { device.destruct() }
        let status: Int32? = switch callback {
        case "construct": device.constructStatus
        case "initComplete": reg.pointee.initComplete?(device.ins)
        case "powerOn": reg.pointee.powerOn?(device.ins)
        default: reg.pointee.resume?(device.ins)
        }
        #expect(status == VMH_ERR_GENERAL)
        #expect(device.state.log.contains(callback))
    }

    @Test func asyncSuspendCompletesAfterWorkerAndLogsDone() throws {
        let module = try MiniModule(plugin: "ProbeDevice")
        let reg = try #require(module.device("Probe"))
        let device = MiniDevice(reg, settings: ["async-ms": .integer(30), "async-on": .string("suspend")])
        #expect(device.constructStatus == VMH_OK)
        reg.pointee.suspend?(device.ins)
        let poller = try #require(device.state.devicePoller)
        #expect(poller(device.ins) == false)  // the worker sleeps 30 ms first
        var done = false
        for _ in 0..<300 where !done {
            usleep(10_000)
            done = poller(device.ins)
        }
        #expect(done)
        #expect(device.state.completions.load(ordering: .sequentiallyConsistent) >= 1)
        // powerOff is not in async-on: done at once, no poller.
        #expect(device.runAsync(reg.pointee.powerOff))
        device.destruct()
        #expect(device.state.log == ["construct", "suspend", "suspend-done", "powerOff", "destruct"])
    }

    @Test func neverCompleteStaysPending() throws {
        let module = try MiniModule(plugin: "ProbeDevice")
        let reg = try #require(module.device("ProbeFirst"))
        let device = MiniDevice(reg, settings: ["never-complete": .bool(true)])
        #expect(device.constructStatus == VMH_OK)
        #expect(device.runAsync(reg.pointee.powerOff, maxPolls: 5) == false)
        device.destruct()
        #expect(!device.state.log.contains("powerOff-done"))
    }

    @Test func unknownSettingAndBadValueAreRefused() throws {
        let module = try MiniModule(plugin: "ProbeDevice")
        let reg = try #require(module.device("Probe"))
        let unknown = MiniDevice(reg, settings: ["bogus": .integer(1)])
        #expect(unknown.constructStatus == VMH_ERR_UNKNOWN_CONFIG_KEY)
        unknown.destruct()
        let wrongType = MiniDevice(reg, settings: ["luns": .string("two")])
        #expect(wrongType.constructStatus == VMH_ERR_WRONG_TYPE)
        wrongType.destruct()
        let badValue = MiniDevice(reg, settings: ["async-on": .string("suspend|explode")])
        #expect(badValue.constructStatus == VMH_ERR_INVALID_VALUE)
        #expect(badValue.state.configErrors.count == 1)
        #expect(badValue.state.configErrors.first?.hasPrefix("async-on:") == true)
        badValue.destruct()
    }
}

/// The Probe plugins under the real PDM (plugin test kit): walk order as the log shows it.
@Suite(.serialized)
struct ProbeWalkTests {
    @Test func deviceAndDriverChainLogTheWalks() throws {
        let h = PluginTestHarness()
        try h.loadProduct("ProbeDevice")
        try h.loadProduct("ProbeDriver")
        h.addDevice(DeviceConfig(name: "Probe", settings: ["luns": .integer(1)])
            .lun(0, DriverConfig(name: "Probe", settings: ["async-ms": .integer(20)])))
        try h.construct()
        try h.powerOn()
        try h.suspend()
        try h.resume()
        try h.powerOff()
        h.destroy()
        let device = try #require(h.logRecords.first { $0.message == "construct" }?.instance)
        let driver = try #require(h.logRecords.last { $0.message == "construct" }?.instance)
        #expect(device != driver)
        #expect(h.messages(of: device) == ["construct", "initComplete", "powerOn", "suspend", "resume", "powerOff",
                                           "destruct"])
        #expect(h.messages(of: driver) == ["construct", "initComplete", "powerOn", "suspend", "suspend-done",
                                           "resume", "powerOff", "powerOff-done", "destruct"])
        // Without FIRST_SUSPEND the drivers are suspended (and finish) before the device.
        try h.expectOrder(["\(driver): suspend-done", "\(device): suspend"])
    }

    @Test func probeFirstIsSuspendedBeforeItsDriver() throws {
        let h = PluginTestHarness()
        try h.loadProduct("ProbeDevice")
        try h.loadProduct("ProbeDriver")
        h.addDevice(DeviceConfig(name: "ProbeFirst", settings: ["luns": .integer(1), "async-ms": .integer(20)])
            .lun(0, DriverConfig(name: "Probe")))
        try h.construct()
        try h.powerOn()
        try h.suspend()
        let device = try #require(h.logRecords.first { $0.message == "construct" }?.instance)
        let driver = try #require(h.logRecords.last { $0.message == "construct" }?.instance)
        try h.expectOrder(["\(device): suspend", "\(device): suspend-done", "\(driver): suspend"])
    }
}
