import CVMHostABI
import PDM
import PluginTestKit
import Synchronization
import Testing

/// The SDK's services, through types compiled into this test (SDKTestPlugins.swift) and the real PDM.
@Suite(.serialized)
struct SDKServiceTests {
    private func harness(_ devices: [DeviceConfig]) throws -> PluginTestHarness {
        let h = PluginTestHarness()
        try h.registerStatic(moduleName: "sdk-test-plugins", entry: sdkTestEntry)
        for device in devices { h.addDevice(device) }
        try h.construct()
        return h
    }

    @Test func registrationStructsCarryTheSDKDefaults() throws {
        let h = PluginTestHarness()
        try h.registerStatic(moduleName: "sdk-test-plugins", entry: sdkTestEntry)
        let timer = try #require(h.registry.device(named: "SDKTimer"))
        #expect(timer.flags == 0)
        #expect(timer.order == VMH_DEVORDER_MISC)
        #expect(timer.maxInstances == 1)
        #expect(timer.instanceSize == UInt32(MemoryLayout<UnsafeRawPointer>.size))
        let reg = timer.registration.pointee
        #expect(reg.versionEnd == reg.version)
        #expect(reg.construct != nil && reg.destruct != nil && reg.suspend != nil && reg.queryInterface != nil)
        let echo = try #require(h.registry.driver(named: "SDKEcho"))
        #expect(echo.maxInstances == 64)
        // A second registration (another harness, same process) reuses the same, never-freed structs.
        let again = PluginTestHarness()
        try again.registerStatic(moduleName: "sdk-test-plugins", entry: sdkTestEntry)
        #expect(again.registry.device(named: "SDKTimer")?.registration == timer.registration)
    }

    @Test func timersFireThroughTheHandler() throws {
        let h = try harness([DeviceConfig(name: "SDKTimer")])
        #expect(h.vmm.timers.count == 1)
        h.portOut(0x700, size: 4, value: 1_000)
        #expect(h.vmm.timers.first?.armedNanoseconds == 1_000)
        h.portOut(0x701, size: 1, value: 0)
        #expect(h.vmm.timers.first?.armedNanoseconds == nil)
        #expect(h.portIn(0x700, size: 4).value == 0)
        #expect(h.vmm.fireTimer(1))
        #expect(h.vmm.fireTimer(1))
        #expect(h.portIn(0x700, size: 4).value == 2)
        #expect(h.vmm.irqHistory.map(\.irq) == [9, 9])
        #expect(h.vmm.irqHistory.map(\.level) == [1, 1])
    }

    /// The device clock (helpers 1.2) with the kit's controllable clock: a periodic device that re-arms at each
    /// deadline plus its period ticks exactly once per period, reading the clock at each deadline.
    @Test func periodicTimerOnTheDeviceClock() throws {
        let h = try harness([DeviceConfig(name: "SDKPeriodic")])
        let start = h.vmm.deviceClock
        h.portOut(0x720, size: 4, value: 1_000_000)  // 1 ms
        #expect(h.portIn(0x728, size: 4).value == 0)
        #expect(h.vmm.timers.first?.deadline == start + 1_000_000)
        #expect(h.vmm.timers.first?.armedNanoseconds == nil)
        #expect(h.vmm.advanceDeviceClock(by: 999_999).isEmpty)
        let fired = h.vmm.advanceDeviceClock(by: 9_500_001)
        #expect(fired == Array(repeating: 1, count: 10))
        #expect(h.portIn(0x720, size: 4).value == 10)
        #expect(h.portIn(0x724, size: 4).value == 10_000_000)
        #expect(h.vmm.deviceClock == start + 10_500_000)
        #expect(h.vmm.timers.first?.deadline == start + 11_000_000)
        #expect(h.portIn(0x728, size: 4).value == 0)
    }

    /// The kit's VMM refuses a timer handle the device did not create (as the VMM does), and a timer stopped
    /// before the clock passes its deadline does not fire.
    @Test func kitTimersCheckOwnershipAndStops() throws {
        let h = try harness([DeviceConfig(name: "SDKPeriodic"), DeviceConfig(name: "SDKTimer")])
        let periodic = try #require(h.pdm.device(named: "SDKPeriodic/0"))
        let timerDevice = try #require(h.pdm.device(named: "SDKTimer/0"))
        let handles = h.vmm.timers.indices.map { UInt64($0 + 1) }
        let owned = try #require(handles.first { h.vmm.timers[Int($0) - 1].device === periodic })
        let foreign = try #require(handles.first { h.vmm.timers[Int($0) - 1].device === timerDevice })
        #expect(h.vmm.timerArmAt(device: periodic, timer: foreign, deadline: 0) == VMH_ERR_INVALID_PARAMETER)
        #expect(h.vmm.timerArm(device: periodic, timer: foreign, nanoseconds: 1) == VMH_ERR_INVALID_PARAMETER)
        #expect(h.vmm.timerStop(device: periodic, timer: foreign) == VMH_ERR_INVALID_PARAMETER)
        #expect(h.vmm.timerArmAt(device: periodic, timer: owned, deadline: h.vmm.deviceClock + 5) == VMH_OK)
        #expect(h.vmm.timerStop(device: periodic, timer: owned) == VMH_OK)
        #expect(h.vmm.advanceDeviceClock(by: 10).isEmpty)
        #expect(h.portIn(0x720, size: 4).value == 0)
    }

    @Test func guestMemoryReadAndWrite() throws {
        let h = try harness([DeviceConfig(name: "SDKMemory")])
        h.vmm.setGuestRAM(0x2000, [1, 2, 3, 0xff])
        h.portOut(0x710, size: 4, value: 0x2000)
        h.portOut(0x714, size: 1, value: 0)
        #expect(h.portIn(0x718, size: 4).value == 0)
        #expect(h.vmm.guestRAM(0x2100, count: 4) == [2, 3, 4, 0])
        // Outside guest RAM (1 MiB in the recording VMM): the typed error carries VMH_ERR_OUT_OF_RANGE.
        h.portOut(0x710, size: 4, value: 0x10_0000)
        h.portOut(0x714, size: 1, value: 0)
        #expect(Int32(bitPattern: h.portIn(0x718, size: 4).value) == VMH_ERR_OUT_OF_RANGE)
    }

    @Test func mmioValuesAreLittleEndianOfTheAccessSize() throws {
        let h = try harness([DeviceConfig(name: "SDKMemory")])
        let base: UInt64 = 0xfe00_0000
        h.mmioWrite(base, size: 8, value: 0x8877_6655_4433_2211)
        #expect(h.mmioRead(base, size: 8).value == 0x8877_6655_4433_2211)
        #expect(h.mmioRead(base, size: 1).value == 0x11)
        #expect(h.mmioRead(base + 1, size: 2).value == 0x3322)
        #expect(h.mmioRead(base + 3, size: 4).value == 0x7766_5544)
        h.mmioWrite(base + 2, size: 1, value: 0xffff_ffff_ffff_ffaa)  // only the low byte is written
        #expect(h.mmioRead(base, size: 4).value == 0x44aa_2211)
        for size: UInt32 in [1, 2, 4, 8] {
            h.mmioWrite(base + 8, size: size, value: 0)
            h.mmioWrite(base + 8, size: size, value: UInt64.max)
            let expected = size == 8 ? UInt64.max : (UInt64(1) << (UInt64(size) * 8)) - 1
            #expect(h.mmioRead(base + 8, size: 8).value == expected)
        }
    }

    @Test func charInterfacesBothWaysIncludingQueryAboveDuringConstruct() throws {
        let h = try harness([DeviceConfig(name: "SDKEcho").lun(0, DriverConfig(name: "SDKEcho"))])
        for byte in Array("echo".utf8) { h.portOut(0x720, size: 1, value: UInt32(byte)) }
        #expect(h.portIn(0x721, size: 1).value == 4)
        var back: [UInt8] = []
        for _ in 0..<5 { back.append(UInt8(truncatingIfNeeded: h.portIn(0x720, size: 1).value)) }
        #expect(back == Array("echo".utf8) + [0xff])
    }

    @Test func driverSettingsReachTheDriver() throws {
        let h = try harness([DeviceConfig(name: "SDKEcho")
            .lun(0, DriverConfig(name: "SDKEcho", settings: ["upper-case": .bool(true)]))])
        for byte in Array("Hi!".utf8) { h.portOut(0x720, size: 1, value: UInt32(byte)) }
        var back: [UInt8] = []
        for _ in 0..<3 { back.append(UInt8(truncatingIfNeeded: h.portIn(0x720, size: 1).value)) }
        #expect(back == Array("HI!".utf8))
    }

    @Test func destructReleasesEveryPluginObject() throws {
        let before = liveTestPlugins.load(ordering: .relaxed)
        let h = try harness([DeviceConfig(name: "SDKTimer"), DeviceConfig(name: "SDKMemory"),
                             DeviceConfig(name: "SDKEcho").lun(0, DriverConfig(name: "SDKEcho")),
                             DeviceConfig(name: "SDKConfig", settings: ["number": .integer(1)])])
        #expect(liveTestPlugins.load(ordering: .relaxed) == before + 5)
        h.destroy()
        #expect(liveTestPlugins.load(ordering: .relaxed) == before)
    }

    @Test func fuzzEverySDKDevice() throws {
        let h = try harness([DeviceConfig(name: "SDKTimer"), DeviceConfig(name: "SDKMemory"),
                             DeviceConfig(name: "SDKEcho").lun(0, DriverConfig(name: "SDKEcho")),
                             DeviceConfig(name: "SDKConfig", settings: ["number": .integer(1)])])
        let stats = h.fuzzIO(iterations: 20_000, seed: 0x5d4)
        #expect(stats.ranges == 5)
        #expect(stats.failedAccesses == 0)
    }
}
