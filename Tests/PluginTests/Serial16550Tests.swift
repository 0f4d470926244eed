import CVMHostABI
import PDM
import PluginTestKit
import Testing

/// libSerial16550.so through the plugin test kit, with the CharSink stub driver on LUN 0.
@Suite(.serialized)
struct Serial16550Tests {
    static let base: UInt16 = 0x3f8

    private func harness(sinkTag: String?, settings: Settings = [:]) throws -> PluginTestHarness {
        let h = PluginTestHarness()
        try h.loadProduct("Serial16550")
        try h.registerStatic(moduleName: CharSink.moduleName, entry: CharSink.entry)
        var device = DeviceConfig(name: "Serial16550", settings: settings)
        if let sinkTag {
            device = device.lun(0, DriverConfig(name: "CharSink", settings: ["tag": .string(sinkTag)]))
        }
        h.addDevice(device)
        try h.construct()
        return h
    }

    @Test func registration() throws {
        let h = PluginTestHarness()
        try h.loadProduct("Serial16550")
        let type = try #require(h.registry.device(named: "Serial16550"))
        #expect(type.flags == 0)
        #expect(type.order == VMH_DEVORDER_SERIAL)
        #expect(type.maxInstances >= 1)
    }

    @Test func registersEightPortsAtIobase() throws {
        let h = try harness(sinkTag: "serial-ports")
        #expect(h.vmm.portRanges.map(\.port) == [Self.base])
        #expect(h.vmm.portRanges.map(\.count) == [8])
    }

    @Test func thrWritesReachTheCharDriver() throws {
        let tag = "serial-thr"
        let h = try harness(sinkTag: tag)
        for byte in Array("Hi\n".utf8) {
            #expect(h.portOut(Self.base, size: 1, value: UInt32(byte)) == VMH_OK)
        }
        #expect(CharSink.received(tag) == Array("Hi\n".utf8))
    }

    @Test func lineStatusSaysTransmitterEmpty() throws {
        let h = try harness(sinkTag: "serial-lsr")
        #expect(h.portIn(Self.base + 5, size: 1).value == 0x60)
        h.portOut(Self.base, size: 1, value: 0x41)
        #expect(h.portIn(Self.base + 5, size: 1).value == 0x60)
    }

    @Test func controlRegistersReadBack() throws {
        let h = try harness(sinkTag: "serial-regs")
        h.portOut(Self.base + 1, size: 1, value: 0x05)  // IER
        h.portOut(Self.base + 3, size: 1, value: 0x03)  // LCR 8N1
        h.portOut(Self.base + 4, size: 1, value: 0x0b)  // MCR
        h.portOut(Self.base + 7, size: 1, value: 0x5a)  // SCR
        #expect(h.portIn(Self.base + 1, size: 1).value == 0x05)
        #expect(h.portIn(Self.base + 3, size: 1).value == 0x03)
        #expect(h.portIn(Self.base + 4, size: 1).value == 0x0b)
        #expect(h.portIn(Self.base + 7, size: 1).value == 0x5a)
        #expect(h.portIn(Self.base + 2, size: 1).value == 0)  // IIR
        #expect(h.portIn(Self.base + 6, size: 1).value == 0)  // MSR
        #expect(h.portIn(Self.base + 0, size: 1).value == 0)  // RBR: no input
    }

    @Test func divisorLatchTakesDataAndIERPorts() throws {
        let tag = "serial-dlab"
        let h = try harness(sinkTag: tag)
        h.portOut(Self.base + 1, size: 1, value: 0x01)  // IER before DLAB
        h.portOut(Self.base + 3, size: 1, value: 0x83)  // DLAB on
        h.portOut(Self.base + 0, size: 1, value: 0x0c)  // DLL
        h.portOut(Self.base + 1, size: 1, value: 0x00)  // DLM
        #expect(h.portIn(Self.base + 0, size: 1).value == 0x0c)
        #expect(h.portIn(Self.base + 1, size: 1).value == 0x00)
        h.portOut(Self.base + 3, size: 1, value: 0x03)  // DLAB off
        #expect(h.portIn(Self.base + 1, size: 1).value == 0x01)  // IER kept
        #expect(CharSink.received(tag).isEmpty)  // the DLL write was no output
        h.portOut(Self.base, size: 1, value: 0x21)
        #expect(CharSink.received(tag) == [0x21])
    }

    @Test func withoutDriverOutputIsDroppedAndLoggedOnce() throws {
        let h = try harness(sinkTag: nil)
        for byte in Array("dropped".utf8) {
            #expect(h.portOut(Self.base, size: 1, value: UInt32(byte)) == VMH_OK)
        }
        let drops = h.logRecords.filter { $0.message.contains("dropped") }
        #expect(drops.count == 1)
    }

    @Test func settingsMoveTheDevice() throws {
        let tag = "serial-com2"
        let h = try harness(sinkTag: tag, settings: ["iobase": .integer(0x2f8), "irq": .integer(3)])
        #expect(h.vmm.portRanges.map(\.port) == [0x2f8])
        h.portOut(0x2f8, size: 1, value: 0x32)
        #expect(CharSink.received(tag) == [0x32])
    }

    @Test func badSettingsFailConstruct() throws {
        for settings: Settings in [["irq": .integer(99)], ["iobase": .string("com1")], ["speed": .integer(9600)]] {
            let h = PluginTestHarness()
            try h.loadProduct("Serial16550")
            h.addDevice(DeviceConfig(name: "Serial16550", settings: settings))
            #expect(throws: PDMError.self) { try h.construct() }
        }
    }

    @Test func fuzz() throws {
        let tag = "serial-fuzz"
        let h = try harness(sinkTag: tag)
        let stats = h.fuzzIO(iterations: 5_000, seed: 0x16550)
        #expect(stats.ranges == 1)
        #expect(stats.failedAccesses == 0)
        // Whatever the fuzzer did, LSR still reads idle.
        #expect(h.portIn(Self.base + 5, size: 1).value == 0x60)
    }
}
