import CVMHostABI
import PDM
import PluginTestKit
import Testing

// An in-process "Echo" device for the test kit's fake VMM: ports 0x100..0x103 and MMIO 0x10000..0x100ff.
//   port 0x100: 32-bit latch (out stores, in returns it); 0x101: out → setIrq(9, v & 1);
//   0x102: out → vmPowerOff(v); 0x103: out → physWrite(latch) to guest RAM 0x2000 and arms the timer.
//   MMIO offset 0..0xff: reads return the last value written at offset 0 (any size); writes store at offset 0.
//   The timer callback sets the latch to 0x7133.
private struct EchoState {
    var latch: UInt32
    var mmio: UInt64
    var timer: UInt64
}

nonisolated(unsafe) let echoDevice = StaticRegistrations.device(name: "Echo", instanceSize: UInt32(MemoryLayout<EchoState>.size)) { reg in
    reg.construct = { ins in
        guard let ins else { return VMH_ERR_INVALID_PARAMETER }
        let hlp = ins.pointee.hlp.pointee
        var rc = hlp.ioPortRegister(ins, 0x100, 4, nil, { ins, _, port, size, value in
            guard let ins, let value, let s = ins.pointee.data?.assumingMemoryBound(to: EchoState.self) else { return VMH_ERR_INVALID_PARAMETER }
            value.pointee = port == 0x100 ? s.pointee.latch : 0xffff_ffff
            return VMH_OK
        }, { ins, _, port, size, value in
            guard let ins, let s = ins.pointee.data?.assumingMemoryBound(to: EchoState.self) else { return VMH_ERR_INVALID_PARAMETER }
            let hlp = ins.pointee.hlp.pointee
            switch port {
            case 0x100: s.pointee.latch = value
            case 0x101: return hlp.setIrq(ins, 9, Int32(value & 1))
            case 0x102: return hlp.vmPowerOff(ins, Int32(bitPattern: value))
            default:
                var latch = s.pointee.latch
                let rc = hlp.physWrite(ins, 0x2000, &latch, 4)
                guard rc == VMH_OK else { return rc }
                return hlp.timerArm(ins, s.pointee.timer, 1_000)
            }
            return VMH_OK
        }, "echo ports")
        guard rc == VMH_OK else { return rc }
        rc = hlp.mmioRegister(ins, 0x10000, 0x100, nil, { ins, _, offset, buf, size in
            guard let ins, let buf, let s = ins.pointee.data?.assumingMemoryBound(to: EchoState.self) else { return VMH_ERR_INVALID_PARAMETER }
            var v = s.pointee.mmio
            withUnsafeBytes(of: &v) { buf.copyMemory(from: $0.baseAddress!, byteCount: Int(min(size, 8))) }
            return VMH_OK
        }, { ins, _, offset, buf, size in
            guard let ins, let buf, let s = ins.pointee.data?.assumingMemoryBound(to: EchoState.self) else { return VMH_ERR_INVALID_PARAMETER }
            var v: UInt64 = 0
            withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: buf, byteCount: Int(min(size, 8))) }
            s.pointee.mmio = v
            return VMH_OK
        }, "echo mmio")
        guard rc == VMH_OK else { return rc }
        guard let s = ins.pointee.data?.assumingMemoryBound(to: EchoState.self) else { return VMH_ERR_NO_MEMORY }
        return hlp.timerCreate(ins, { ins, _, _ in
            ins?.pointee.data?.assumingMemoryBound(to: EchoState.self).pointee.latch = 0x7133
        }, nil, "echo timer", &s.pointee.timer)
    }
}

let echoEntry: VMHPluginEntry = { registrar, _ in
    guard let r = registrar?.pointee else { return VMH_ERR_INVALID_PARAMETER }
    return r.registerDevice(registrar, echoDevice)
}

@Suite struct TestKitTests {
    func echoHarness() throws -> PluginTestHarness {
        let h = PluginTestHarness()
        try h.registerStatic(moduleName: "echo", entry: echoEntry)
        h.addDevice(DeviceConfig(name: "Echo"))
        try h.construct()
        return h
    }

    @Test func drivesRegisteredRanges() throws {
        let h = try echoHarness()
        #expect(h.vmm.portRanges.map(\.description) == ["echo ports"])
        #expect(h.vmm.mmioRanges.map(\.gpa) == [0x10000])
        #expect(h.portOut(0x100, size: 4, value: 0xdead_beef) == VMH_OK)
        #expect(h.portIn(0x100, size: 4).value == 0xdead_beef)
        #expect(h.portIn(0x200, size: 2).value == 0xffff)  // nobody there: all-ones
        h.portOut(0x101, value: 1)
        h.portOut(0x101, value: 0)
        #expect(h.vmm.irqHistory == [.init(device: "Echo/0", irq: 9, level: 1), .init(device: "Echo/0", irq: 9, level: 0)])
        h.portOut(0x103, value: 0)
        #expect(h.vmm.guestRAM(0x2000, count: 4) == [0xef, 0xbe, 0xad, 0xde])
        #expect(h.vmm.timers.first?.armedNanoseconds == 1_000)
        #expect(h.vmm.fireTimer(1))
        #expect(h.portIn(0x100, size: 4).value == 0x7133)
        h.portOut(0x102, value: 3)
        #expect(h.vmm.powerOffRequests.map(\.exitStatus) == [3])
        #expect(h.mmioWrite(0x10010, size: 8, value: 0x1122_3344_5566_7788) == VMH_OK)
        #expect(h.mmioRead(0x10000, size: 2).value == 0x7788)
        #expect(h.mmioRead(0x20000, size: 1).value == 0xff)
    }

    @Test func fuzzIOSurvivesAndCounts() throws {
        let h = try echoHarness()
        let stats = h.fuzzIO(iterations: 5_000, seed: 7)
        #expect(stats.reads + stats.writes == 5_000)
        #expect(stats.ranges == 2)
        #expect(stats.reads > 1_000 && stats.writes > 1_000)
        let again = try echoHarness().fuzzIO(iterations: 5_000, seed: 7)
        #expect(again == stats)  // same seed, same accesses
    }

    @Test func stubPluginsAndProductsDirectory() throws {
        #expect(PluginTestHarness.productsDirectory.hasSuffix("/debug") || PluginTestHarness.productsDirectory.hasSuffix("/release"))
        let h = PluginTestHarness()
        try h.registerStubs()
        h.addDevice(DeviceConfig(name: "StubFirst", settings: ["luns": .integer(1), "async-ms": .integer(10)])
            .lun(0, DriverConfig(name: "StubDriver")))
        try h.construct()
        try h.powerOn()
        try h.suspend()
        try h.expectOrder(["StubFirst/0: suspend", "StubFirst/0: suspend-done", "StubFirst/0/0/StubDriver/0: suspend"])
        #expect(throws: HarnessExpectationFailure.self) { try h.expectOrder(["StubFirst/0/0/StubDriver/0: suspend", "StubFirst/0: suspend"]) }
    }
}
