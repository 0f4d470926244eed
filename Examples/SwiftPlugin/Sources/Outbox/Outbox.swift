// Outbox: a port-I/O device whose suspend finishes asynchronously.
//
// The guest writes bytes to `iobase` (default 0x530); the device queues them and "sends" them in batches. Ports:
//   iobase+0  write: queue the low byte;     read: bytes queued and not yet sent
//   iobase+1  read: bytes sent so far (32 bits)
// On suspend, a non-empty queue is sent on a worker thread that takes `send-ms` milliseconds (default 20): the
// device answers `.pending` and completes the suspend from that thread. Settings: `iobase`, `send-ms`.
import PluginSDK
import Synchronization

/// The Outbox device: one object per instance.
final class Outbox: DevicePlugin {
    static let name = "Outbox"
    static let description = "Queues bytes the guest writes; sends them asynchronously on suspend"
    static let maxInstances: UInt32 = 4

    /// Queue and counters, shared by the I/O handlers (EMT) and the sending thread.
    private struct Queue {
        var pending: [UInt8] = []
        var sent: UInt32 = 0
    }

    private let context: DeviceContext
    private let sendMilliseconds: Int64
    private let queue = Mutex(Queue())

    init(context: DeviceContext) throws {
        self.context = context
        try context.config.validate(keys: ["iobase", "send-ms"])
        let base = try context.config.integer("iobase", as: UInt16.self, default: 0x530, in: 0...0xfffe)
        sendMilliseconds = try context.config.integer("send-ms", as: Int64.self, default: 20, in: 0...10_000)
        // Method references: the context owns the handlers and drops them at destruct.
        try context.registerPorts(base: base, count: 2, description: "outbox", read: guestRead, write: guestWrite)
        context.log("ports 0x\(String(base, radix: 16))..0x\(String(base + 1, radix: 16)), send-ms \(sendMilliseconds)")
    }

    /// A guest read: `iobase+0` bytes queued, `iobase+1` bytes sent.
    private func guestRead(offset: UInt16, size: Int) -> UInt32 {
        let value: UInt32 = queue.withLock { q in offset == 0 ? UInt32(q.pending.count) : q.sent }
        return size >= 4 ? value : value & ((1 << (UInt32(size) * 8)) - 1)
    }

    /// A guest write: `iobase+0` queues the low byte.
    private func guestWrite(offset: UInt16, size: Int, value: UInt32) {
        guard offset == 0 else { return }
        queue.withLock { $0.pending.append(UInt8(truncatingIfNeeded: value)) }
    }

    /// Sends what is queued. Done at once when nothing is; otherwise a worker thread sends and completes.
    func suspend() -> PowerResult {
        let batch = queue.withLock { $0.pending.count }
        guard batch > 0 else { return .done }
        let completion = context.asyncCompletion()
        let delay = sendMilliseconds
        do {
            try PluginThread.detach { [queue = UnsafeQueueRef(self)] in
                PluginThread.sleep(milliseconds: delay)
                queue.sendAll()
                completion.complete()
            }
        } catch {
            context.log(.error, "suspend: \(error); sending \(batch) byte(s) inline")
            sendAll()
            return .done
        }
        return .pending
    }

    func asyncOperationFinished(_ operation: PowerOperation) {
        context.log("\(operation.rawValue) finished: \(queue.withLock { $0.sent }) byte(s) sent")
    }

    /// Power-off: reports what was sent and what is still queued (dropped with the VM).
    func powerOff() -> PowerResult {
        let (pending, sent) = queue.withLock { ($0.pending.count, $0.sent) }
        context.log("power off: \(sent) byte(s) sent, \(pending) queued")
        return .done
    }

    /// Moves every queued byte to "sent".
    fileprivate func sendAll() {
        queue.withLock { q in
            q.sent &+= UInt32(q.pending.count)
            q.pending.removeAll()
        }
    }
}

/// Carries the device into the sending thread. The SDK keeps the object alive until destruct, and destruct
/// happens only after the host saw the suspend complete.
private struct UnsafeQueueRef: @unchecked Sendable {
    let device: Outbox
    init(_ device: Outbox) { self.device = device }
    func sendAll() { device.sendAll() }
}

/// The module's entry point: the one symbol vmhost looks for.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, devices: [Outbox.self])
}
