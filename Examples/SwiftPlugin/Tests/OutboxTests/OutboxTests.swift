import PluginTestKit
import Testing

/// libOutbox.so, loaded from the build folder and driven through the VMHost plugin test kit.
@Suite(.serialized)
struct OutboxTests {
    private func harness(_ settings: Settings = [:]) throws -> PluginTestHarness {
        let h = PluginTestHarness()
        try h.loadProduct("Outbox")
        h.addDevice(DeviceConfig(name: "Outbox", settings: settings))
        try h.construct()
        try h.powerOn()
        return h
    }

    @Test func registersItsPorts() throws {
        let h = try harness(["iobase": .integer(0x540)])
        #expect(h.vmm.portRanges.map(\.port) == [0x540])
        #expect(h.vmm.portRanges.map(\.count) == [2])
        #expect(h.messages(of: "Outbox/0").contains("ports 0x540..0x541, send-ms 20"))
    }

    @Test func queuesWrittenBytes() throws {
        let h = try harness()
        for byte in [0x41, 0x42, 0x43] as [UInt32] { h.portOut(0x530, value: byte) }
        #expect(h.portIn(0x530).value == 3)
        #expect(h.portIn(0x531, size: 4).value == 0)
    }

    @Test func suspendSendsTheQueueAsynchronously() throws {
        let h = try harness(["send-ms": .integer(30)])
        for byte: UInt32 in 1...5 { h.portOut(0x530, value: byte) }
        try h.suspend()  // returns once the worker completed
        #expect(h.portIn(0x530).value == 0)
        #expect(h.portIn(0x531, size: 4).value == 5)
        #expect(h.messages(of: "Outbox/0").contains("suspend finished: 5 byte(s) sent"))
        #expect(h.asyncState().failedToQuiesce.isEmpty)
    }

    @Test func powerOffReportsSentAndQueuedBytes() throws {
        let h = try harness(["send-ms": .integer(0)])
        h.portOut(0x530, value: 1)
        try h.suspend()
        try h.resume()
        h.portOut(0x530, value: 2)
        h.portOut(0x530, value: 3)
        try h.powerOff()
        #expect(h.messages(of: "Outbox/0").contains("power off: 1 byte(s) sent, 2 queued"))
    }

    @Test func suspendWithAnEmptyQueueIsImmediate() throws {
        let h = try harness()
        try h.suspend()
        #expect(!h.messages(of: "Outbox/0").contains { $0.hasPrefix("suspend finished") })
    }

    @Test func refusesUnknownSettings() throws {
        let h = PluginTestHarness()
        try h.loadProduct("Outbox")
        h.addDevice(DeviceConfig(name: "Outbox", settings: ["colour": .string("red")]))
        #expect(throws: (any Error).self) { try h.construct() }
    }

    @Test func survivesRandomGuestIO() throws {
        let h = try harness()
        let stats = h.fuzzIO(iterations: 2_000, seed: 7)
        #expect(stats.ranges == 1)
        #expect(stats.failedAccesses == 0)
    }
}
