import CVMHostABI
import PDM
import PluginTestKit
import Testing

/// libScratchpad.so (the plain C plugin) through the plugin test kit.
@Suite(.serialized)
struct ScratchpadTests {
    static let io: UInt16 = 0x510
    static let mmio: UInt64 = 0xd000_0000

    private func harness(_ settings: Settings = [:]) throws -> PluginTestHarness {
        let h = PluginTestHarness()
        try h.loadProduct("Scratchpad")
        h.addDevice(DeviceConfig(name: "Scratchpad", settings: settings))
        try h.construct()
        return h
    }

    @Test func registration() throws {
        let h = PluginTestHarness()
        try h.loadProduct("Scratchpad")
        let type = try #require(h.registry.device(named: "Scratchpad"))
        #expect(type.flags == VMH_DEVREG_F_THREAD_SAFE)
        #expect(type.order == VMH_DEVORDER_MISC)
        #expect(type.instanceSize > 0)
    }

    @Test func registersPortsAndMMIO() throws {
        let h = try harness()
        #expect(h.vmm.portRanges.map(\.port) == [Self.io])
        #expect(h.vmm.portRanges.map(\.count) == [16])
        #expect(h.vmm.mmioRanges.map(\.gpa) == [Self.mmio])
        #expect(h.vmm.mmioRanges.map(\.size) == [0x1000])
    }

    @Test func latchStoresAndNarrowAccessesTouchLowBytes() throws {
        let h = try harness()
        h.portOut(Self.io, size: 4, value: 0xdead_beef)
        #expect(h.portIn(Self.io, size: 4).value == 0xdead_beef)
        h.portOut(Self.io, size: 1, value: 0x11)
        #expect(h.portIn(Self.io, size: 4).value == 0xdead_be11)
        h.portOut(Self.io, size: 2, value: 0x2233)
        #expect(h.portIn(Self.io, size: 4).value == 0xdead_2233)
        #expect(h.portIn(Self.io, size: 2).value == 0x2233)
        #expect(h.portIn(Self.io, size: 1).value == 0x33)
    }

    @Test func portWriteCounterCountsEveryWriteAndResets() throws {
        let h = try harness()
        #expect(h.portIn(Self.io + 4, size: 4).value == 0)
        h.portOut(Self.io, size: 4, value: 1)          // latch
        h.portOut(Self.io + 8, size: 1, value: 0)      // doorbell
        h.portOut(Self.io + 8, size: 4, value: 9)      // doorbell
        h.portOut(Self.io + 12, size: 1, value: 0)     // IRQ
        h.portOut(Self.io + 15, size: 1, value: 0)     // unassigned
        #expect(h.portIn(Self.io + 4, size: 4).value == 5)
        h.portOut(Self.io + 4, size: 4, value: 1234)   // reset
        #expect(h.portIn(Self.io + 4, size: 4).value == 0)
        h.portOut(Self.io + 8, size: 1, value: 0)
        #expect(h.portIn(Self.io + 4, size: 4).value == 1)
        // The doorbell stores nothing.
        #expect(h.portIn(Self.io + 8, size: 4).value == 0)
    }

    @Test func irqPortDrivesTheLine() throws {
        let h = try harness()
        h.portOut(Self.io + 12, size: 1, value: 1)
        h.portOut(Self.io + 12, size: 4, value: 2)   // bit 0 clear: low
        h.portOut(Self.io + 12, size: 1, value: 3)
        #expect(h.vmm.irqHistory.map(\.irq) == [5, 5, 5])
        #expect(h.vmm.irqHistory.map(\.level) == [1, 0, 1])
        #expect(h.portIn(Self.io + 12, size: 1).value == 1)
    }

    @Test func mmioScratchRegistersCounterAndDoorbell() throws {
        let h = try harness()
        for index in 0..<64 {
            h.mmioWrite(Self.mmio + UInt64(index * 4), size: 4, value: UInt64(0x1000_0000 + index))
        }
        for index in 0..<64 {
            #expect(h.mmioRead(Self.mmio + UInt64(index * 4), size: 4).value == UInt64(0x1000_0000 + index))
        }
        #expect(h.mmioRead(Self.mmio + 0x100, size: 4).value == 64)
        h.mmioWrite(Self.mmio + 0x104, size: 4, value: 0xffff)      // doorbell: counts only
        h.mmioWrite(Self.mmio + 0x800, size: 8, value: UInt64.max)  // ignored but counted
        h.mmioWrite(Self.mmio + 0x100, size: 4, value: 0)           // the counter is read-only
        #expect(h.mmioRead(Self.mmio + 0x100, size: 4).value == 67)
        #expect(h.mmioRead(Self.mmio + 0x104, size: 4).value == 0)
        #expect(h.mmioRead(Self.mmio + 0x800, size: 8).value == 0)
        // Byte and 8-byte accesses into the scratch area.
        h.mmioWrite(Self.mmio + 0x11, size: 1, value: 0xab)
        #expect(h.mmioRead(Self.mmio + 0x10, size: 4).value == 0x1000_ab04)
        h.mmioWrite(Self.mmio + 0x20, size: 8, value: 0x0102_0304_0506_0708)
        #expect(h.mmioRead(Self.mmio + 0x20, size: 4).value == 0x0506_0708)
        #expect(h.mmioRead(Self.mmio + 0x24, size: 4).value == 0x0102_0304)
        #expect(h.mmioRead(Self.mmio + 0x20, size: 8).value == 0x0102_0304_0506_0708)
    }

    @Test func settingsMoveTheDevice() throws {
        let h = try harness(["iobase": .integer(0x600), "mmio-base": .integer(0xe000_0000), "irq": .integer(7)])
        #expect(h.vmm.portRanges.map(\.port) == [0x600])
        #expect(h.vmm.mmioRanges.map(\.gpa) == [0xe000_0000])
        h.portOut(0x60c, size: 1, value: 1)
        #expect(h.vmm.irqHistory.map(\.irq) == [7])
    }

    @Test func badSettingsFailConstruct() throws {
        for settings: Settings in [["irq": .integer(99)], ["iobase": .integer(0xfff8)], ["mmio-base": .integer(0x1234)],
                                   ["iobase": .string("x")], ["colour": .string("red")]] {
            let h = PluginTestHarness()
            try h.loadProduct("Scratchpad")
            h.addDevice(DeviceConfig(name: "Scratchpad", settings: settings))
            #expect(throws: PDMError.self) { try h.construct() }
        }
    }

    @Test func fuzz() throws {
        let h = try harness()
        let stats = h.fuzzIO(iterations: 10_000, seed: 0x5c7a)
        #expect(stats.ranges == 2)
        #expect(stats.failedAccesses == 0)
        // Every MMIO write was counted (the counter is 32-bit; far from wrapping here).
        let mmioWrites = h.mmioRead(Self.mmio + 0x100, size: 4).value
        #expect(mmioWrites > 0 && Int(mmioWrites) <= stats.writes)
    }
}
