import CVMHostABI
import PDM
import PluginTestKit
import Testing

/// libAsyncDelay.so through the plugin test kit: Serial16550 → LUN 0 → AsyncDelay → CharSink.
@Suite(.serialized)
struct AsyncDelayTests {
    private func harness(delay: Int64?, tag: String, deadline: Int64 = 30_000) throws -> PluginTestHarness {
        let h = PluginTestHarness(asyncDeadlineMilliseconds: deadline)
        try h.loadProduct("Serial16550")
        try h.loadProduct("AsyncDelay")
        try h.registerStatic(moduleName: CharSink.moduleName, entry: CharSink.entry)
        let settings: Settings = delay.map { ["delay-ms": .integer($0)] } ?? [:]
        let chain = DriverConfig(name: "AsyncDelay", settings: settings,
                                 below: DriverConfig(name: "CharSink", settings: ["tag": .string(tag)]))
        h.addDevice(DeviceConfig(name: "Serial16550").lun(0, chain))
        try h.construct()
        try h.powerOn()
        return h
    }

    private func asyncDelayMessages(_ h: PluginTestHarness) -> [String] {
        h.logRecords.filter { $0.instance.contains("AsyncDelay") }.map(\.message)
    }

    @Test func registration() throws {
        let h = PluginTestHarness()
        try h.loadProduct("AsyncDelay")
        let type = try #require(h.registry.driver(named: "AsyncDelay"))
        #expect(type.flags == 0)
        #expect(type.maxInstances >= 1)
    }

    @Test func writesPassThroughToTheDriverBelow() throws {
        let tag = "async-delay-pass"
        let h = try harness(delay: 10, tag: tag)
        for byte in Array("ok".utf8) { h.portOut(0x3f8, size: 1, value: UInt32(byte)) }
        #expect(CharSink.received(tag) == Array("ok".utf8))
    }

    @Test func suspendWaitsForTheFlushThenCompletes() throws {
        let h = try harness(delay: 50, tag: "async-delay-suspend")
        try h.suspend()
        #expect(asyncDelayMessages(h) == ["flushing (50 ms)", "flushed"])
        #expect(h.asyncState().pending.isEmpty)
        #expect(h.asyncState().failedToQuiesce.isEmpty)
        try h.resume()
        h.clearLog()
        try h.powerOff()
        #expect(asyncDelayMessages(h) == ["flushing (50 ms)", "flushed"])
    }

    @Test func suspendIsPendingUntilTheDelayPasses() throws {
        // A delay far beyond the walk's deadline: the PDM gives up with AsyncDelay still pending.
        let h = try harness(delay: 60_000, tag: "async-delay-pending", deadline: 100)
        do {
            try h.suspend()
            Issue.record("suspend finished although AsyncDelay waits 60 s")
        } catch {
            guard case .deadlineExceeded(_, _, let neverFinished, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(neverFinished.contains { $0.contains("AsyncDelay") })
        }
        #expect(asyncDelayMessages(h) == ["flushing (60000 ms)"])
    }

    @Test func defaultDelayIs200Milliseconds() throws {
        let h = try harness(delay: nil, tag: "async-delay-default")
        try h.suspend()
        #expect(asyncDelayMessages(h) == ["flushing (200 ms)", "flushed"])
    }

    @Test func zeroDelayCompletesAtOnce() throws {
        let h = try harness(delay: 0, tag: "async-delay-zero")
        try h.suspend()
        #expect(asyncDelayMessages(h) == ["flushing (0 ms)", "flushed"])
    }

    @Test func badDelayFailsConstruct() throws {
        let h = PluginTestHarness()
        try h.loadProduct("Serial16550")
        try h.loadProduct("AsyncDelay")
        h.addDevice(DeviceConfig(name: "Serial16550")
            .lun(0, DriverConfig(name: "AsyncDelay", settings: ["delay-ms": .integer(-5)])))
        #expect(throws: PDMError.self) { try h.construct() }
    }
}
