import CVMHostABI
import Foundation
import PDM
import PluginTestKit
import Testing

/// libStdio.so through the plugin test kit: Serial16550 → LUN 0 → Stdio, with the process's stdout or stderr
/// redirected into a pipe while the guest writes.
@Suite(.serialized)
struct StdioTests {
    @Test func registration() throws {
        let h = PluginTestHarness()
        try h.loadProduct("Stdio")
        let type = try #require(h.registry.driver(named: "Stdio"))
        #expect(type.flags == 0)
        #expect(type.maxInstances >= 1)
    }

    /// Runs `body` with file descriptor `fd` redirected into a pipe; returns what was written to it.
    private func capture(fd: Int32, _ body: () throws -> Void) throws -> String {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw MiniHostError("pipe failed") }
        let saved = dup(fd)
        fflush(nil)
        dup2(pipeEnds[1], fd)
        close(pipeEnds[1])
        do {
            try body()
        } catch {
            dup2(saved, fd)
            close(saved)
            close(pipeEnds[0])
            throw error
        }
        dup2(saved, fd)
        close(saved)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(pipeEnds[0], &buffer, buffer.count)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        close(pipeEnds[0])
        return String(decoding: output, as: UTF8.self)
    }

    /// True if every byte of `marker` appears in `output` in order. The 16550 without FIFOs hands the driver one
    /// byte per write(2), and tests running in parallel log to the same process-wide stdout/stderr meanwhile, so
    /// their lines may land between the marker's bytes.
    private func arrivedInOrder(_ marker: String, in output: String) -> Bool {
        var wanted = marker.utf8.makeIterator()
        var next = wanted.next()
        for byte in output.utf8 where byte == next { next = wanted.next() }
        return next == nil
    }

    private func runSerial(stream: String?, text: String) throws -> PluginTestHarness {
        let h = PluginTestHarness()
        try h.loadProduct("Serial16550")
        try h.loadProduct("Stdio")
        let settings: Settings = stream.map { ["stream": .string($0)] } ?? [:]
        h.addDevice(DeviceConfig(name: "Serial16550").lun(0, DriverConfig(name: "Stdio", settings: settings)))
        try h.construct()
        for byte in Array(text.utf8) {
            h.portOut(0x3f8, size: 1, value: UInt32(byte))
        }
        return h
    }

    @Test func writesGoToStdoutByDefault() throws {
        let marker = "vmhost-stdio-test-stdout-\(getpid())\n"
        let output = try capture(fd: STDOUT_FILENO) { _ = try runSerial(stream: nil, text: marker) }
        #expect(arrivedInOrder(marker, in: output), "\(output)")
    }

    @Test func streamStderrWritesToStderr() throws {
        let marker = "vmhost-stdio-test-stderr-\(getpid())\n"
        let output = try capture(fd: STDERR_FILENO) { _ = try runSerial(stream: "stderr", text: marker) }
        #expect(arrivedInOrder(marker, in: output), "\(output)")
    }

    @Test func badStreamFailsConstruct() throws {
        let h = PluginTestHarness()
        try h.loadProduct("Serial16550")
        try h.loadProduct("Stdio")
        h.addDevice(DeviceConfig(name: "Serial16550")
            .lun(0, DriverConfig(name: "Stdio", settings: ["stream": .string("file")])))
        #expect(throws: PDMError.self) { try h.construct() }
    }
}
