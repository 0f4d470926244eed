import CVMHostABI
import PDM
import PluginTestKit
import Synchronization
import Testing

// An in-process test plugin ("Helpers" device, "HelperTop"/"HelperBottom" drivers) that calls helpers at
// different times and records the statuses it got.
let helperResults = Mutex<[String: Int32]>([:])
let helperPointers = Mutex<[String: UInt]>([:])

private func record(_ key: String, _ status: Int32) { helperResults.withLock { $0[key] = status } }
private func recordPointer(_ key: String, _ pointer: UnsafeMutableRawPointer?) {
    helperPointers.withLock { $0[key] = UInt(bitPattern: pointer) }
}

nonisolated(unsafe) let deviceInterface = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
nonisolated(unsafe) let topInterface = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
nonisolated(unsafe) let bottomInterface = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)

private let dummyPoller: VMHDevAsyncNotify = { _ in true }

nonisolated(unsafe) let helpersDevice = StaticRegistrations.device(name: "Helpers", instanceSize: 200) { reg in
    reg.construct = { ins in
        guard let ins else { return VMH_ERR_INVALID_PARAMETER }
        let hlp = ins.pointee.hlp.pointee
        // Instance data: 64-byte aligned and zeroed.
        let data = ins.pointee.data
        let aligned = UInt(bitPattern: data) % 64 == 0
        let zeroed = data.map { d in (0..<200).allSatisfy { d.load(fromByteOffset: $0, as: UInt8.self) == 0 } } ?? false
        record("data", aligned && zeroed ? VMH_OK : VMH_ERR_GENERAL)
        record("construct.setAsync", hlp.setAsyncNotification(ins, dummyPoller))
        record("construct.port", hlp.ioPortRegister(ins, 0x600, 4, nil, nil, nil, "helpers"))
        var timer: UInt64 = 0
        record("construct.timer", hlp.timerCreate(ins, { _, _, _ in }, nil, "t", &timer))
        var small = [CChar](repeating: 0, count: 4)
        record("cfg.small", hlp.cfgQueryString(ins, "name", &small, small.count))
        var big = [CChar](repeating: 0, count: 64)
        record("cfg.string", hlp.cfgQueryString(ins, "name", &big, big.count))
        var n: Int64 = 0
        record("cfg.missing", hlp.cfgQueryInteger(ins, "absent", &n))
        record("cfg.integer", hlp.cfgQueryInteger(ins, "count", &n))
        record("cfg.integer.value", Int32(truncatingIfNeeded: n))
        var b = false
        record("cfg.bool.wrongType", hlp.cfgQueryBool(ins, "count", &b))
        record("cfg.validate", hlp.cfgValidate(ins, "name|count"))
        record("attach.unconfigured", hlp.driverAttach(ins, 7))
        record("attach", hlp.driverAttach(ins, 0))
        record("attach.again", hlp.driverAttach(ins, 0))
        recordPointer("lun0.top", hlp.queryLunInterface(ins, 0, "t.top/1"))
        recordPointer("lun0.bottom", hlp.queryLunInterface(ins, 0, "t.bottom/1"))
        return VMH_OK
    }
    reg.powerOn = { ins in
        guard let ins else { return VMH_ERR_INVALID_PARAMETER }
        let hlp = ins.pointee.hlp.pointee
        record("powerOn.setAsync", hlp.setAsyncNotification(ins, dummyPoller))
        record("powerOn.port", hlp.ioPortRegister(ins, 0x700, 4, nil, nil, nil, "late"))
        var timer: UInt64 = 0
        record("powerOn.timer", hlp.timerCreate(ins, { _, _, _ in }, nil, "t", &timer))
        record("powerOn.attach", hlp.driverAttach(ins, 1))
        hlp.asyncNotificationCompleted(ins)  // outside a suspend/reset/power-off walk: ignored
        return VMH_OK
    }
    reg.suspend = { ins in
        guard let ins else { return }
        let hlp = ins.pointee.hlp.pointee
        record("suspend.setAsync", hlp.setAsyncNotification(ins, dummyPoller))
        record("suspend.setAsync.again", hlp.setAsyncNotification(ins, dummyPoller))
        hlp.asyncNotificationCompleted(ins)  // same thread, before the walk waits: must not be lost
    }
    reg.queryInterface = { _, lun, iid in
        guard let iid, lun == 0, String(cString: iid) == "t.dev/1" else { return nil }
        return deviceInterface
    }
}

nonisolated(unsafe) let helperTop = StaticRegistrations.driver(name: "HelperTop") { reg in
    reg.construct = { ins, _ in
        guard let ins else { return VMH_ERR_INVALID_PARAMETER }
        let hlp = ins.pointee.hlp.pointee
        record("top.attachBelow", hlp.attachBelow(ins, 0))
        record("top.attachBelow.again", hlp.attachBelow(ins, 0))
        recordPointer("top.below", hlp.queryBelow(ins, "t.bottom/1"))
        recordPointer("top.above", hlp.queryAbove(ins, "t.dev/1"))
        record("top.name", String(cString: ins.pointee.name) == "Helpers/0/0/HelperTop/0" ? VMH_OK : VMH_ERR_GENERAL)
        return VMH_OK
    }
    reg.queryInterface = { ins, iid in
        guard let iid else { return nil }
        if String(cString: iid) == "t.top/1" { return topInterface }
        return ins?.pointee.hlp.pointee.queryBelow(ins, iid)
    }
}

nonisolated(unsafe) let helperBottom = StaticRegistrations.driver(name: "HelperBottom") { reg in
    reg.construct = { ins, _ in
        guard let ins else { return VMH_ERR_INVALID_PARAMETER }
        let hlp = ins.pointee.hlp.pointee
        record("bottom.attachBelow", hlp.attachBelow(ins, 0))
        recordPointer("bottom.above", hlp.queryAbove(ins, "t.top/1"))
        return VMH_OK
    }
    reg.queryInterface = { _, iid in
        guard let iid, String(cString: iid) == "t.bottom/1" else { return nil }
        return bottomInterface
    }
}

let helpersEntry: VMHPluginEntry = { registrar, _ in
    guard let r = registrar?.pointee else { return VMH_ERR_INVALID_PARAMETER }
    var rc = r.registerDevice(registrar, helpersDevice)
    if rc == VMH_OK { rc = r.registerDriver(registrar, helperTop) }
    if rc == VMH_OK { rc = r.registerDriver(registrar, helperBottom) }
    return rc
}

@Suite(.serialized) struct HelperTests {
    func construct(services: RecordingVMM = RecordingVMM()) throws -> PluginTestHarness {
        helperResults.withLock { $0 = [:] }
        helperPointers.withLock { $0 = [:] }
        let h = PluginTestHarness(vmm: services, asyncDeadlineMilliseconds: 5_000)
        try h.registerStatic(moduleName: "helpers", entry: helpersEntry)
        h.addDevice(DeviceConfig(name: "Helpers", settings: ["name": .string("serial-port"), "count": .integer(0x2a)])
            .lun(0, DriverConfig(name: "HelperTop", below: DriverConfig(name: "HelperBottom"))))
        try h.construct()
        return h
    }

    @Test func helpersDuringConstruct() throws {
        let h = try construct()
        let r = helperResults.withLock { $0 }
        #expect(r["data"] == VMH_OK)
        #expect(r["construct.setAsync"] == VMH_ERR_WRONG_STATE)
        #expect(r["construct.port"] == VMH_OK)
        #expect(r["construct.timer"] == VMH_OK)
        #expect(r["cfg.small"] == VMH_ERR_BUFFER_TOO_SMALL)
        #expect(r["cfg.string"] == VMH_OK)
        #expect(r["cfg.missing"] == VMH_ERR_NOT_FOUND)
        #expect(r["cfg.integer"] == VMH_OK)
        #expect(r["cfg.integer.value"] == 0x2a)
        #expect(r["cfg.bool.wrongType"] == VMH_ERR_WRONG_TYPE)
        #expect(r["cfg.validate"] == VMH_OK)
        #expect(r["attach.unconfigured"] == VMH_ERR_NO_DRIVER_ATTACHED)
        #expect(r["attach"] == VMH_OK)
        #expect(r["attach.again"] == VMH_ERR_ALREADY_EXISTS)
        #expect(r["top.attachBelow"] == VMH_OK)
        #expect(r["top.attachBelow.again"] == VMH_ERR_ALREADY_EXISTS)
        #expect(r["bottom.attachBelow"] == VMH_ERR_NO_DRIVER_ATTACHED)
        #expect(r["top.name"] == VMH_OK)
        #expect(h.vmm.portRanges.map(\.port) == [0x600])
        #expect(h.vmm.portRanges.first?.device.name == "Helpers/0")
    }

    @Test func interfaceQueriesFollowTheChain() throws {
        _ = try construct()
        let p = helperPointers.withLock { $0 }
        #expect(p["lun0.top"] == UInt(bitPattern: topInterface))
        #expect(p["lun0.bottom"] == UInt(bitPattern: bottomInterface))  // the top driver passes it through
        #expect(p["top.below"] == UInt(bitPattern: bottomInterface))
        #expect(p["top.above"] == UInt(bitPattern: deviceInterface))
        #expect(p["bottom.above"] == UInt(bitPattern: topInterface))
    }

    /// setAsyncNotification only inside reset/suspend/powerOff; registration and attach only in construct; a
    /// completion signalled before the walk waits is not lost.
    @Test func helpersOutsideTheirWindowFail() throws {
        let h = try construct()
        let waiter = RecordingWaiter()
        try h.pdm.powerOn(waiter: waiter)
        var r = helperResults.withLock { $0 }
        #expect(r["powerOn.setAsync"] == VMH_ERR_WRONG_STATE)
        #expect(r["powerOn.port"] == VMH_ERR_WRONG_STATE)
        #expect(r["powerOn.timer"] == VMH_ERR_WRONG_STATE)
        #expect(r["powerOn.attach"] == VMH_ERR_WRONG_STATE)
        #expect(waiter.wakers.withLock { $0 }.isEmpty)  // the completion in powerOn was ignored
        try h.pdm.suspend(waiter: waiter)
        r = helperResults.withLock { $0 }
        #expect(r["suspend.setAsync"] == VMH_OK)
        #expect(r["suspend.setAsync.again"] == VMH_ERR_ALREADY_EXISTS)
        #expect(waiter.wakers.withLock { $0.count } == 1)
    }

    @Test func configErrorsAreLoggedWithTheKeyPath() throws {
        helperResults.withLock { $0 = [:] }
        let h = PluginTestHarness()
        try h.registerStatic(moduleName: "helpers", entry: helpersEntry)
        h.addDevice(DeviceConfig(name: "Helpers", settings: ["name": .integer(3), "count": .integer(1), "extra": .bool(true)])
            .lun(0, DriverConfig(name: "HelperTop", below: DriverConfig(name: "HelperBottom"))))
        try h.construct()
        let r = helperResults.withLock { $0 }
        #expect(r["cfg.string"] == VMH_ERR_WRONG_TYPE)
        #expect(r["cfg.validate"] == VMH_ERR_UNKNOWN_CONFIG_KEY)
    }

    @Test func nullServicesReportNotSupported() throws {
        helperResults.withLock { $0 = [:] }
        let registry = PluginRegistry()
        try registry.registerStatic(moduleName: "helpers", entry: helpersEntry)
        let pdm = PDMCore()
        var config = VMConfiguration()
        config.devices = [DeviceConfig(name: "Helpers")]
        do {
            try pdm.construct(config: config, registry: registry)
        } catch {
            Issue.record("\(error)")
        }
        #expect(helperResults.withLock { $0["construct.port"] } == VMH_ERR_NOT_SUPPORTED)
        pdm.destroy()
    }
}
