// Char: the buffering layer between a char device (e.g. Serial16550) and a stream driver below it (Stdio, File,
// UnixSocket). Settings: `buffer-size` (bytes of output buffer, default 65536, 256...16 MiB).
//
// Output: the device's writes land in a ring buffer and return at once; the driver's own I/O thread ("char-io")
// writes them to the stream driver below, however slowly it takes them. Flow control: when the buffer is full a
// write accepts only what fits (the device keeps the rest, e.g. the UART's LSR.THRE stays clear), so a slow sink
// throttles the guest instead of losing output. Input: the stream driver's bytes pass straight up to the device's
// VMH_IID_CHAR_PORT; the count it accepts goes back down, so the stream driver holds the rest and retries.
// Suspend and power-off flush: pending output is written out first; when there is any, the callback goes async and
// the I/O thread completes it once the buffer is empty (log lines `flushing <n> bytes` and `flushed`).
import PluginSDK

/// The Char driver.
final class Char: DriverPlugin, @unchecked Sendable {
    static let name = "Char"
    static let description = "Buffered char stream with flow control above a stream driver (Stdio, File, UnixSocket)"
    static let maxInstances: UInt32 = 64

    private let context: DriverContext
    private let below: CharConnector
    private let buffer: OutputRing
    private let lock = ConditionLock()
    // Guarded by `lock`:
    private var stopping = false
    private var flushCompletion: AsyncCompletion?
    private var errorLogged = false

    private var connector: OfferedCharConnector?
    private var port: OfferedCharPort?
    private var worker: WorkerThread?
    /// The device's input port (resolved in initComplete).
    private let above = UpperPort()

    init(context: DriverContext, flags: UInt32) throws {
        self.context = context
        try context.config.validate(keys: ["buffer-size"])
        let size = try context.config.integer("buffer-size", as: Int.self, default: 65536, in: 256...(16 << 20))
        buffer = OutputRing(capacity: size)
        guard try context.attachBelow() else {
            throw PluginError(.noDriverAttached,
                              "Char needs a stream driver below it (Stdio, File or UnixSocket): configure `below`")
        }
        guard let below = context.queryBelow(CharConnector.self) else {
            throw PluginError(.notSupported, "the driver below offers no \(InterfaceID.charConnector)")
        }
        self.below = below
        connector = context.offerCharConnector(write: { [unowned self] bytes in self.enqueue(bytes) },
                                               flush: { [unowned self] in self.flushWithin(milliseconds: 100) })
        port = context.offerCharPort(receive: { [unowned self] bytes in self.deliverUp(bytes) })
        worker = try WorkerThread.start(name: "char-io") { [unowned self] in self.run() }
    }

    func queryInterface(iid: InterfaceID) -> UnsafeMutableRawPointer? {
        connector?.answer(iid) ?? port?.answer(iid)
    }

    func initComplete() throws {
        above.resolve(context.queryAbove(CharPort.self))
    }

    func suspend() -> PowerResult { startFlush() }

    func powerOff() -> PowerResult { startFlush() }

    func asyncOperationFinished(_ operation: PowerOperation) {
        context.log("flushed")
    }

    func destruct() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        worker?.join()
        worker = nil
    }

    // MARK: Output

    /// The device's write: copies what fits into the ring; returns the count accepted.
    private func enqueue(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        lock.withLock {
            let wasEmpty = buffer.count == 0
            let n = buffer.append(bytes)
            if wasEmpty && n > 0 { lock.signal() }
            return Int64(n)
        }
    }

    /// `flush`: waits up to `milliseconds` for the buffer to drain.
    private func flushWithin(milliseconds: UInt64) -> PluginStatus {
        lock.withLock {
            let deadline = context.clockNanoseconds + milliseconds * 1_000_000
            while buffer.count > 0 && !stopping {
                let now = context.clockNanoseconds
                if now >= deadline { return .timeout }
                lock.wait(nanoseconds: deadline - now)
            }
            return below.flush() == .ok || buffer.count == 0 ? .ok : .io
        }
    }

    private func startFlush() -> PowerResult {
        lock.withLock {
            let pending = buffer.count  // includes what the I/O thread is writing (peeked, not yet dropped)
            guard pending > 0 else {
                _ = below.flush()
                return .done
            }
            context.log("flushing \(pending) bytes")
            flushCompletion = context.asyncCompletion()
            lock.broadcast()
            return .pending
        }
    }

    /// The I/O thread: moves bytes from the ring to the driver below.
    private func run() {
        let chunkSize = 4096
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n: Int = lock.withLock {
                while buffer.count == 0 && !stopping {
                    if let completion = flushCompletion {
                        flushCompletion = nil
                        _ = below.flush()
                        completion.complete()
                    }
                    lock.broadcast()  // wake flush() waiters
                    lock.wait()
                }
                if stopping { return 0 }
                return buffer.peek(into: chunk)
            }
            if n == 0 { return }
            let written = writeBelow(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            lock.withLock {
                buffer.drop(written)
            }
        }
    }

    /// Writes `bytes` to the driver below, retrying partial writes; on an error the rest is dropped (logged once).
    /// Returns how many bytes left the ring.
    private func writeBelow(_ bytes: UnsafeRawBufferPointer) -> Int {
        var done = 0
        var idleRounds = 0
        while done < bytes.count {
            let result = below.write(UnsafeRawBufferPointer(rebasing: bytes[done...]))
            if result > 0 {
                done += Int(result)
                idleRounds = 0
            } else if result == 0 {
                // The sink takes nothing right now: back off briefly, unless we are being torn down.
                if lock.withLock({ stopping }) { return bytes.count }
                idleRounds += 1
                PluginThread.sleep(milliseconds: min(Int64(idleRounds), 10))
            } else {
                let logIt = lock.withLock { () -> Bool in
                    defer { errorLogged = true }
                    return !errorLogged
                }
                if logIt {
                    context.log(.warning, "the stream driver below failed (\(PluginStatus(rawValue: Int32(result)))); "
                                + "output is dropped while it fails")
                }
                return bytes.count
            }
        }
        return done
    }

    // MARK: Input

    private func deliverUp(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        above.deliver(bytes)
    }
}

/// The input port of the device above, resolved in initComplete (the device offers it once it is constructed)
/// and read from the stream driver's I/O thread.
final class UpperPort: @unchecked Sendable {
    private let lock = ConditionLock()
    private var resolved = false
    private var port: CharPort?

    func resolve(_ port: CharPort?) {
        lock.withLock {
            self.port = port
            resolved = true
        }
    }

    /// Delivers `bytes` up: 0 before the chain is complete (the stream driver retries); everything (discarded)
    /// when the device takes no input.
    func deliver(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        let (resolved, port) = lock.withLock { (self.resolved, self.port) }
        guard resolved else { return 0 }
        guard let port else { return Int64(bytes.count) }
        return port.receive(bytes)
    }
}

/// A byte ring of fixed capacity (not thread-safe: the Char driver guards it).
final class OutputRing: @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var capacity: Int { storage.count }

    /// Appends as much of `bytes` as fits; returns how many.
    func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = min(bytes.count, capacity - count)
        var copied = 0
        while copied < n {
            let tail = (head + count + copied) % capacity
            let run = min(n - copied, capacity - tail)
            UnsafeMutableRawBufferPointer(rebasing: storage[tail..<(tail + run)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[copied..<(copied + run)]))
            copied += run
        }
        count += n
        return n
    }

    /// Copies the oldest bytes (up to `out.count`) into `out` without removing them; returns how many.
    func peek(into out: UnsafeMutableRawBufferPointer) -> Int {
        let n = min(out.count, count)
        var copied = 0
        while copied < n {
            let from = (head + copied) % capacity
            let run = min(n - copied, capacity - from)
            UnsafeMutableRawBufferPointer(rebasing: out[copied..<(copied + run)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[from..<(from + run)]))
            copied += run
        }
        return n
    }

    /// Removes the `n` oldest bytes.
    func drop(_ n: Int) {
        let k = min(max(0, n), count)
        head = (head + k) % capacity
        count -= k
    }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, drivers: [Char.self])
}
