// AsyncDelay: a pass-through char connector (writes go to the driver below) that takes its time on suspend and
// power-off: a worker thread waits `delay-ms` (default 200) "to flush", then completes. It logs
// `flushing (N ms)` when it starts and `flushed` when the host sees it done. Used by the demo to show the PDM
// waiting for a driver.
import PluginSDK

/// The AsyncDelay driver.
final class AsyncDelay: DriverPlugin {
    static let name = "AsyncDelay"
    static let description = "Pass-through char connector that flushes asynchronously on suspend and power-off"
    static let maxInstances: UInt32 = 16

    private let context: DriverContext
    private let delayMilliseconds: Int64
    private let below: CharConnector?

    init(context: DriverContext, flags: UInt32) throws {
        self.context = context
        try context.config.validate(keys: ["delay-ms"])
        delayMilliseconds = try context.config.integer("delay-ms", as: Int64.self, default: 200, in: 0...600_000)
        below = try context.attachBelow() ? context.queryBelow(CharConnector.self) : nil
        let below = self.below
        // The SDK answers VMH_IID_CHAR_CONNECTOR queries with this connector.
        context.offerCharConnector(
            write: { bytes in below?.write(bytes) ?? Int64(bytes.count) },
            flush: { below?.flush() ?? .ok })
    }

    func suspend() -> PowerResult { startFlush() }

    func powerOff() -> PowerResult { startFlush() }

    private func startFlush() -> PowerResult {
        context.log("flushing (\(delayMilliseconds) ms)")
        below?.flush()
        guard delayMilliseconds > 0 else {
            context.log("flushed")
            return .done
        }
        let completion = context.asyncCompletion()
        let milliseconds = delayMilliseconds
        do {
            try PluginThread.detach {
                PluginThread.sleep(milliseconds: milliseconds)
                completion.complete()
            }
        } catch {
            context.log(.error, "cannot start the flush worker: \(error)")
            context.log("flushed")
            return .done
        }
        return .pending
    }

    func asyncOperationFinished(_ operation: PowerOperation) {
        context.log("flushed")
    }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, drivers: [AsyncDelay.self])
}
