import Foundation
import Glibc
import PDM
import Synchronization
import Testing
import TestSupport
import VMM

/// The real device plugins under the real VMM with the PVH test guests: the UART through the char chain to a
/// file and a socket, and the virtio-blk guest on VirtioBlk → Block → RawFile (with the VMM's ioeventfd/irqfd).
@Suite(.serialized) struct DeviceGuestTests {
    static let blkCmdline = "virtio_mmio.device=512@0xd0001000:10"

    static func registry(_ plugins: [String]) throws -> PluginRegistry {
        let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let registry = PluginRegistry()
        for plugin in plugins { _ = try registry.load(path: folder.appendingPathComponent("lib\(plugin).so").path) }
        return registry
    }

    static let allPlugins = ["Serial16550", "Char", "File", "UnixSocket", "DebugExit", "VirtioBlk", "Block", "RawFile"]

    /// A VM running `guest` with DebugExit and COM1 → Char → `console`, plus `extra` devices.
    static func makeVM(guest: String, cmdline: String, console: DriverConfig, extra: [DeviceConfig] = [],
                       pdm: PDMCore = PDMCore()) throws -> VirtualMachine {
        var config = VMConfiguration()
        config.machine = MachineSettings(cpus: 1, memoryMiB: 64, kernel: try TestGuests.path(guest), cmdline: cmdline)
        config.pdm = PDMSettings(asyncDeadlineMilliseconds: 20_000)
        config.devices = [DeviceConfig(name: "DebugExit"),
                          DeviceConfig(name: "Serial16550").lun(0, DriverConfig(name: "Char", below: console))] + extra
        return try VirtualMachine.create(configuration: config, registry: try registry(allPlugins), pdm: pdm)
    }

    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("vmhost-\(getpid())-\(UUID().uuidString)-\(name)").path
    }

    static func makeImage(megabytes: Int) throws -> String {
        let path = temporaryPath("disk.img")
        guard let handle = FileHandle(forWritingAtPath: path) ?? {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }() else { throw CocoaError(.fileWriteUnknown) }
        try handle.truncate(atOffset: UInt64(megabytes) << 20)
        try handle.close()
        return path
    }

    static func disk(_ image: String, settings: Settings = [:], writethrough: Bool = false) -> DeviceConfig {
        let raw = DriverConfig(name: "RawFile", settings: ["path": .string(image), "writethrough": .bool(writethrough)])
        return DeviceConfig(name: "VirtioBlk", settings: settings).lun(0, DriverConfig(name: "Block", below: raw))
    }

    /// The guest's pattern word `w` of sector `s` (see Tests/Guests/virtio-blk.c).
    static func patternWord(sector: UInt64, word: UInt32, seed: UInt32) -> UInt32 {
        UInt32(truncatingIfNeeded: sector << 12) ^ (word &* 0x9e37_79b1) ^ seed
    }

    /// Sectors `[0, count)` of `image` that do not hold the pattern.
    static func badSectors(_ image: String, count: UInt64, seed: UInt32) throws -> [UInt64] {
        let data = try Data(contentsOf: URL(fileURLWithPath: image))
        var bad: [UInt64] = []
        data.withUnsafeBytes { raw in
            for sector in 0..<count {
                for word in UInt32(0)..<128 {
                    let at = Int(sector) * 512 + Int(word) * 4
                    let value = raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)
                    if value != patternWord(sector: sector, word: word, seed: seed) {
                        bad.append(sector)
                        break
                    }
                }
            }
        }
        return bad
    }

    static func text(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    // MARK: Serial

    @Test func guestSerialOutputReachesAFile() throws {
        let log = Self.temporaryPath("console.log")
        defer { unlink(log) }
        let vm = try Self.makeVM(guest: "hello", cmdline: "",
                                 console: DriverConfig(name: "File", settings: ["path": .string(log)]))
        try vm.powerOn()
        #expect(vm.waitForState(timeoutNanoseconds: 20_000_000_000) { $0 == .off } == .off)
        #expect(vm.requestedExitStatus == 33)
        try vm.destroy()
        #expect(Self.text(log).contains("hello: VMHost PVH test guest reached ring 3\n"))
    }

    @Test func guestSerialOutputReachesASocketClient() throws {
        let socket = Self.temporaryPath("console.sock")
        let vm = try Self.makeVM(guest: "hello", cmdline: "",
                                 console: DriverConfig(name: "UnixSocket", settings: ["path": .string(socket)]))
        let client = try SocketClient(path: socket)
        defer { client.close() }
        usleep(50_000)  // let the driver's I/O thread accept the client before the guest prints
        try vm.powerOn()
        let line = "hello: VMHost PVH test guest reached ring 3\n"
        #expect(try client.receive(until: line).contains(line))
        #expect(vm.waitForState(timeoutNanoseconds: 20_000_000_000) { $0 == .off } == .off)
        try vm.destroy()
    }

    @Test func socketClientTypesIntoTheGuestsUART() throws {
        let socket = Self.temporaryPath("console.sock")
        let vm = try Self.makeVM(guest: "uart", cmdline: "echo=2",
                                 console: DriverConfig(name: "UnixSocket", settings: ["path": .string(socket)]))
        let client = try SocketClient(path: socket)
        defer { client.close() }
        usleep(50_000)  // let the driver's I/O thread accept the client before the guest prints
        try vm.powerOn()
        #expect(try client.receive(until: "uart: ready\n").contains("uart: PASS\n"))
        try client.send("ping\n")
        #expect(try client.receive(until: "uart: echo ping\n").contains("uart: echo ping\n"))
        try client.send("a longer line typed by the client\n")
        #expect(try client.receive(until: "\n").contains("uart: echo a longer line typed by the client"))
        #expect(vm.waitForState(timeoutNanoseconds: 20_000_000_000) { $0 == .off } == .off)
        #expect(vm.requestedExitStatus == 1)
        try vm.destroy()
    }

    @Test func uartTransmitterEmptyInterruptReachesTheGuest() throws {
        let log = Self.temporaryPath("console.log")
        defer { unlink(log) }
        let vm = try Self.makeVM(guest: "irq", cmdline: "source=serial irq=4",
                                 console: DriverConfig(name: "File", settings: ["path": .string(log)]))
        try vm.powerOn()
        #expect(vm.waitForState(timeoutNanoseconds: 20_000_000_000) { $0 == .off } == .off)
        let status = vm.requestedExitStatus
        try vm.destroy()
        #expect(Self.text(log).contains("irq: PASS"), "\(Self.text(log))")
        #expect(status == 1)
    }

    // MARK: virtio-blk

    @Test(arguments: [true, false])
    func virtioBlkGuestWritesReadsAndVerifies(kernelEvents: Bool) throws {
        let image = try Self.makeImage(megabytes: 16)
        let log = Self.temporaryPath("blk.log")
        defer { unlink(image); unlink(log) }
        let settings: Settings = ["ioeventfd": .bool(kernelEvents), "irqfd": .bool(kernelEvents)]
        let pdm = PDMCore()
        let lines = Mutex<[String]>([])
        pdm.pluginLogObserver = { record in lines.withLock { $0.append("\(record.instance): \(record.message)") } }
        let vm = try Self.makeVM(guest: "virtio-blk",
                                 cmdline: "\(Self.blkCmdline) blocks=1024 bs=4096 depth=16 interrupts=1",
                                 console: DriverConfig(name: "File", settings: ["path": .string(log)]),
                                 extra: [Self.disk(image, settings: settings)], pdm: pdm)
        let mode = kernelEvents ? "ioeventfd on, irqfd on" : "ioeventfd off, irqfd off"
        #expect(lines.withLock { $0 }.contains { $0.hasPrefix("VirtioBlk/0: ") && $0.contains(mode) })
        try vm.powerOn()
        #expect(vm.waitForState(timeoutNanoseconds: 60_000_000_000) { $0 == .off } == .off)
        let status = vm.requestedExitStatus
        try vm.destroy()
        #expect(Self.text(log).contains("virtio-blk: PASS requests=2049 bytes=8388608"), "\(Self.text(log))")
        #expect(status == 1)
        // Completions reached the guest as interrupts (irqfd edges, or setIrq raised and lowered by the ACK).
        let interrupts = Self.text(log).split(separator: "\n").first { $0.hasPrefix("virtio-blk: interrupts=") }
            .flatMap { Int($0.dropFirst("virtio-blk: interrupts=".count)) } ?? 0
        #expect(interrupts > 0, "\(Self.text(log))")
        #expect(try Self.badSectors(image, count: 1024 * 8, seed: 0x5eed).isEmpty)
    }

    @Test func theDeviceAnnouncesItselfOnTheKernelCommandLine() throws {
        let image = try Self.makeImage(megabytes: 16)
        let log = Self.temporaryPath("blk.log")
        defer { unlink(image); unlink(log) }
        // No virtio_mmio.device word in the configured command line: VirtioBlk appends it (irq 11 here).
        let vm = try Self.makeVM(guest: "virtio-blk", cmdline: "blocks=64 interrupts=1",
                                 console: DriverConfig(name: "File", settings: ["path": .string(log)]),
                                 extra: [Self.disk(image, settings: ["mmio-base": .integer(0xd000_2000), "irq": .integer(11)])])
        try vm.powerOn()
        #expect(vm.waitForState(timeoutNanoseconds: 30_000_000_000) { $0 == .off } == .off)
        let status = vm.requestedExitStatus
        try vm.destroy()
        #expect(Self.text(log).contains("virtio-blk: PASS requests=129"), "\(Self.text(log))")
        #expect(!Self.text(log).contains("virtio-blk: interrupts=0"), "\(Self.text(log))")
        #expect(status == 1)
    }

    @Test func pauseDuringHeavyBlockIOWaitsForInFlightRequests() throws {
        let image = try Self.makeImage(megabytes: 16)
        let log = Self.temporaryPath("blk.log")
        defer { unlink(image); unlink(log) }
        let pdm = PDMCore()
        let progress = Mutex<[WalkProgress]>([])
        pdm.progressObserver = { line in progress.withLock { $0.append(line) } }
        let lines = Mutex<[String]>([])
        pdm.pluginLogObserver = { record in lines.withLock { $0.append("\(record.instance): \(record.message)") } }
        let vm = try Self.makeVM(guest: "virtio-blk",
                                 cmdline: "\(Self.blkCmdline) op=write blocks=2048 bs=8192 depth=32 repeat=1000",
                                 console: DriverConfig(name: "File", settings: ["path": .string(log)]),
                                 extra: [Self.disk(image, writethrough: true)], pdm: pdm)
        let memory = try #require(vm.parts?.machine.memory)
        try vm.powerOn()
        #expect(eventually(timeoutMilliseconds: 20_000) { ((try? memory.load(UInt64.self, at: 0x10000)) ?? 0) > 50 })
        // At least 5 cycles, and more (for up to 20 s) until a suspend caught requests in flight: on a loaded
        // host the guest may have nothing in flight at the moment of the first few suspends.
        let deadline = ContinuousClock.now + .seconds(20)
        var cycles = 0
        func caughtInFlight() -> Bool {
            lines.withLock { $0.contains { $0.hasPrefix("VirtioBlk/0/0/Block/0: waiting for") } }
        }
        while cycles < 5 || (!caughtInFlight() && ContinuousClock.now < deadline) {
            cycles += 1
            // The guest writes for much longer than this loop: if it stopped, it failed; say what it printed.
            try #require(vm.state == .running, "the guest stopped early: \(Self.text(log))")
            #expect(try vm.suspend() == .done)
            #expect(vm.state == .suspended)
            // SUSPENDED only after every in-flight request was completed to the guest: nothing moves now.
            let acknowledged = try memory.load(UInt64.self, at: 0x10000)
            usleep(50_000)
            #expect(try memory.load(UInt64.self, at: 0x10000) == acknowledged)
            #expect(try vm.resume() == .done)
            usleep(20_000)
        }
        let waited = lines.withLock { $0.filter { $0.hasPrefix("VirtioBlk/0/0/Block/0: waiting for") } }
        #expect(!waited.isEmpty, "no suspend found requests in flight")
        #expect(progress.withLock { $0 }.contains { $0.pending.contains("VirtioBlk/0/0/Block/0") })
        #expect(try vm.powerOff() == .done)
        let acknowledged = try memory.load(UInt64.self, at: 0x10000)
        try vm.destroy()
        let sectors = min(acknowledged, 2048) * 16
        #expect(try Self.badSectors(image, count: sectors, seed: 0x5eed).isEmpty)
    }

    @Test func powerOffDuringWritesKeepsEveryAcknowledgedWrite() throws {
        let image = try Self.makeImage(megabytes: 32)
        let log = Self.temporaryPath("blk.log")
        defer { unlink(image); unlink(log) }
        let vm = try Self.makeVM(guest: "virtio-blk",
                                 cmdline: "\(Self.blkCmdline) op=write blocks=4096 bs=4096 depth=32 seed=0x77",
                                 console: DriverConfig(name: "File", settings: ["path": .string(log)]),
                                 extra: [Self.disk(image)])
        let memory = try #require(vm.parts?.machine.memory)
        try vm.powerOn()
        #expect(eventually(timeoutMilliseconds: 20_000) { ((try? memory.load(UInt64.self, at: 0x10000)) ?? 0) > 300 })
        #expect(try vm.powerOff() == .done)
        let acknowledged = try memory.load(UInt64.self, at: 0x10000)
        try vm.destroy()
        #expect(acknowledged > 300)
        // Requests complete in submission order (one medium thread), so the first `acknowledged` blocks are on disk.
        #expect(try Self.badSectors(image, count: acknowledged * 8, seed: 0x77).isEmpty)
    }

    @Test func sigkillAfterAnAcknowledgedFlushKeepsTheData() throws {
        let image = try Self.makeImage(megabytes: 16)
        let log = Self.temporaryPath("blk.log")
        let config = Self.temporaryPath("vm.yaml")
        defer { unlink(image); unlink(log); unlink(config) }
        let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let yaml = """
            plugin-paths: ["\(products.path)"]
            machine:
              memory-mib: 64
              kernel: "\(try TestGuests.path("virtio-blk"))"
              cmdline: "\(Self.blkCmdline) op=write blocks=2048 bs=4096 depth=32 seed=0x99 hang=1"
            devices:
              - name: DebugExit
              - name: Serial16550
                luns:
                  - driver: {name: Char, below: {name: File, settings: {path: "\(log)"}}}
              - name: VirtioBlk
                luns:
                  - driver: {name: Block, below: {name: RawFile, settings: {path: "\(image)"}}}
            """
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ChildProcess([products.appendingPathComponent("vmhost").path, "run", "--config", config,
                                        "--no-default-devices"])
        let flushed = eventually(timeoutMilliseconds: 30_000) { Self.text(log).contains("virtio-blk: flushed writes=2048") }
        process.send(SIGKILL)
        let outcome = process.wait(timeout: 30)
        #expect(flushed, "\(Self.text(log))")
        #expect(outcome.signal == SIGKILL, "\(outcome)")
        #expect(try Self.badSectors(image, count: 2048 * 8, seed: 0x99).isEmpty)
    }
}

/// A blocking Unix stream socket client.
final class SocketClient {
    private var fd: Int32

    struct Failure: Error, CustomStringConvertible { let description: String }

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
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

    /// Reads until the text contains `marker` or 20 s pass without data.
    func receive(until marker: String) throws -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: bytes, as: UTF8.self).contains(marker) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 20_000) == 1 else { throw Failure(description: "no data; got \(bytes)") }
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
