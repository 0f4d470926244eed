import CVMHostABI
import Foundation
import Glibc
import PDM
import PluginTestKit
import Synchronization
import Testing

/// The char driver chain below a real Serial16550: Char (buffering, flow control, async flush) above TestChar,
/// File and UnixSocket, all loaded from their `.so` files.
extension TestCharSuites {
    @Suite(.serialized)
    struct CharChainTests {
        static let thr: UInt16 = 0x3f8, rbr: UInt16 = 0x3f8, fcr: UInt16 = 0x3fa, lsr: UInt16 = 0x3fd

        func harness(_ chain: [DriverConfig]) throws -> PluginTestHarness {
            TestCharDriver.reset()
            let h = PluginTestHarness(asyncDeadlineMilliseconds: 10_000)
            for product in ["Serial16550", "Char", "File", "UnixSocket"] { try h.loadProduct(product) }
            try TestCharDriver.register(in: h.registry)
            let top = try #require(DriverConfig.chain(chain))
            h.addDevice(DeviceConfig(name: "Serial16550").lun(0, top))
            try h.construct()
            try h.powerOn()
            return h
        }

        /// Writes `bytes` as a polling guest does: wait for LSR.THRE before each THR write. Returns how many were
        /// written before THRE stayed clear for `patience` polls (flow control), or all of them.
        @discardableResult
        func send(_ h: PluginTestHarness, _ bytes: [UInt8], patience: Int = 1) -> Int {
            for (i, byte) in bytes.enumerated() {
                var polls = 0
                while h.portIn(Self.lsr).value & 0x20 == 0 {
                    polls += 1
                    if polls >= patience { return i }
                    usleep(1000)
                }
                h.portOut(Self.thr, value: UInt32(byte))
            }
            return bytes.count
        }

        static let charAndTestChar = [DriverConfig(name: "Char"), DriverConfig(name: TestCharDriver.name)]

        @Test func charPassesOutputToTheStreamDriverAndFlushesOnSuspend() throws {
            let h = try harness(Self.charAndTestChar)
            send(h, Array("hello, char\n".utf8))
            try h.suspend()
            #expect(TestCharDriver.text == "hello, char\n")
            #expect(TestCharDriver.flushCalls >= 1)
        }

        @Test func charRefusesWhenFullSoTheGuestWaits() throws {
            let h = try harness([DriverConfig(name: "Char", settings: ["buffer-size": .integer(256)]),
                                 DriverConfig(name: TestCharDriver.name)])
            h.portOut(Self.fcr, value: 0x07)
            TestCharDriver.accept(0)
            let payload = (0..<400).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let written = send(h, payload)
            #expect(written == 257)  // 256 in Char's buffer + 1 held in the UART's transmit FIFO
            TestCharDriver.accept(nil)
            #expect(send(h, Array(payload[written...]), patience: 10_000) == payload.count - written)
            try h.suspend()
            #expect(TestCharDriver.bytes == payload)
        }

        @Test func suspendWaitsForASlowSinkAsynchronously() throws {
            let h = try harness(Self.charAndTestChar)
            TestCharDriver.accept(0)
            send(h, Array("0123456789".utf8))
            let release = Thread {
                usleep(150_000)
                TestCharDriver.accept(nil)
            }
            release.start()
            try h.suspend()
            #expect(TestCharDriver.text == "0123456789")
            let messages = h.messages(of: "Serial16550/0/0/Char/0")
            #expect(messages.contains("flushing 10 bytes"))
            #expect(messages.last == "flushed")
        }

        @Test func charForwardsInputUpToTheUART() throws {
            let h = try harness(Self.charAndTestChar)
            h.portOut(Self.fcr, value: 0x01)
            #expect(TestCharDriver.inject(Array("typed".utf8)) == 5)
            var received: [UInt8] = []
            while h.portIn(Self.lsr).value & 0x01 != 0 { received.append(UInt8(h.portIn(Self.rbr).value & 0xff)) }
            #expect(String(decoding: received, as: UTF8.self) == "typed")
        }

        @Test func charWithoutAStreamDriverIsRefused() throws {
            let h = PluginTestHarness()
            try h.loadProduct("Serial16550")
            try h.loadProduct("Char")
            h.addDevice(DeviceConfig(name: "Serial16550").lun(0, DriverConfig(name: "Char")))
            #expect(throws: (any Error).self) { try h.construct() }
            #expect(h.messages(of: "Serial16550/0/0/Char/0").contains { $0.contains("stream driver") })
        }

        // MARK: File

        func temporaryPath(_ name: String) -> String {
            "\(NSTemporaryDirectory())vmhost-\(getpid())-\(name)"
        }

        @Test func fileAppendsAndPowerOffFlushes() throws {
            let path = temporaryPath("console.log")
            try Data("old\n".utf8).write(to: URL(fileURLWithPath: path))
            defer { unlink(path) }
            let h = try harness([DriverConfig(name: "Char"), DriverConfig(name: "File", settings: ["path": .string(path)])])
            send(h, Array("new line\n".utf8))
            try h.powerOff()
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "old\nnew line\n")
        }

        @Test func fileTruncateStartsEmpty() throws {
            let path = temporaryPath("truncated.log")
            try Data("old\n".utf8).write(to: URL(fileURLWithPath: path))
            defer { unlink(path) }
            let h = try harness([DriverConfig(name: "Char"),
                                 DriverConfig(name: "File", settings: ["path": .string(path), "truncate": .bool(true)])])
            send(h, Array("fresh\n".utf8))
            try h.suspend()
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "fresh\n")
        }

        @Test func fileWithAnUnusablePathNamesTheSetting() throws {
            let h = PluginTestHarness()
            try h.loadProduct("Serial16550")
            try h.loadProduct("File")
            h.addDevice(DeviceConfig(name: "Serial16550")
                .lun(0, DriverConfig(name: "File", settings: ["path": .string("/nonexistent-dir/console.log")])))
            #expect(throws: (any Error).self) { try h.construct() }
            #expect(h.messages(of: "Serial16550/0/0/File/0").contains { $0.contains("`path`") })
        }

        // MARK: UnixSocket

        @Test func unixSocketClientTypesIntoTheUARTAndReadsItsOutput() throws {
            let path = temporaryPath("console.sock")
            let h = try harness([DriverConfig(name: "Char"),
                                 DriverConfig(name: "UnixSocket", settings: ["path": .string(path)])])
            h.portOut(Self.fcr, value: 0x01)
            let client = try UnixClient(path: path)
            defer { client.close() }
            try client.send("ls\n")
            // The input crosses the driver's I/O thread: poll the UART (bounded) until all of it arrived.
            var received: [UInt8] = []
            for _ in 0..<5000 where received.count < 3 {
                while h.portIn(Self.lsr).value & 0x01 != 0 { received.append(UInt8(h.portIn(Self.rbr).value & 0xff)) }
                if received.count < 3 { usleep(1000) }
            }
            #expect(String(decoding: received, as: UTF8.self) == "ls\n")
            // The server has accepted this client (its input arrived), so output now reaches it.
            send(h, Array("guest says hi\n".utf8))
            #expect(try client.receive(count: 14) == "guest says hi\n")
            h.destroy()
            #expect(access(path, F_OK) != 0)  // the socket file is removed at destruct
        }

        @Test func suspendWaitsForASlowSocketClient() throws {
            let path = temporaryPath("slow.sock")
            let h = try harness([DriverConfig(name: "Char", settings: ["buffer-size": .integer(1 << 20)]),
                                 DriverConfig(name: "UnixSocket", settings: ["path": .string(path)])])
            let client = try UnixClient(path: path)
            defer { client.close() }
            // Make sure the server has accepted the client: its input reaches the UART.
            h.portOut(Self.fcr, value: 0x01)
            try client.send("x")
            var accepted = false
            for _ in 0..<5000 where !accepted {
                accepted = h.portIn(Self.lsr).value & 0x01 != 0
                if !accepted { usleep(1000) }
            }
            #expect(accepted)
            // Far more than a Unix socket buffers: the client reads nothing yet, so the writer stalls.
            let payload = (0..<(320 << 10)).map { UInt8(32 + $0 % 95) }  // printable ASCII
            for byte in payload { h.portOut(Self.thr, value: UInt32(byte)) }
            let reader = Completion()
            let received = ReceivedBytes()
            let thread = Thread {
                usleep(200_000)
                received.set((try? client.receive(count: payload.count)) ?? "")
                reader.finish()
            }
            thread.start()
            try h.suspend()  // pending until the client has drained Char's buffer
            #expect(reader.wait())
            #expect(received.value.utf8.count == payload.count)
            #expect(Array(received.value.utf8) == payload)
            let messages = h.messages(of: "Serial16550/0/0/Char/0")
            #expect(messages.contains { $0.hasPrefix("flushing ") })
            #expect(messages.last == "flushed")
        }

        @Test func unixSocketRefusesAPathThatIsNotASocket() throws {
            let path = temporaryPath("not-a-socket")
            try Data("x".utf8).write(to: URL(fileURLWithPath: path))
            defer { unlink(path) }
            let h = PluginTestHarness()
            try h.loadProduct("Serial16550")
            try h.loadProduct("UnixSocket")
            h.addDevice(DeviceConfig(name: "Serial16550")
                .lun(0, DriverConfig(name: "UnixSocket", settings: ["path": .string(path)])))
            #expect(throws: (any Error).self) { try h.construct() }
            #expect(h.messages(of: "Serial16550/0/0/UnixSocket/0").contains { $0.contains("not a socket") })
        }
    }
}

/// Bytes handed from a reader thread to the test.
final class ReceivedBytes: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = ""
    var value: String { lock.lock(); defer { lock.unlock() }; return stored }
    func set(_ text: String) { lock.lock(); stored = text; lock.unlock() }
}

/// A blocking Unix stream socket client for the console tests.
final class UnixClient: @unchecked Sendable {
    private var fd: Int32

    struct Failure: Error, CustomStringConvertible { let description: String }

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard status == 0 else { throw Failure(description: "connect \(path): errno \(errno)") }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            throw Failure(description: "send: errno \(errno)")
        }
    }

    /// Reads until `count` bytes arrived or 5 s passed without data.
    func receive(count: Int) throws -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < count {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 5000) == 1 else { throw Failure(description: "no data within 5 s; got \(bytes)") }
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { throw Failure(description: "connection closed; got \(bytes)") }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
