// UnixSocket: a stream driver (VMH_IID_CHAR_CONNECTOR) serving a console on a Unix stream socket. Settings:
// `path` (required; a stale socket file there is replaced, any other file is an error).
//
// One client at a time: a new connection replaces the previous one. Output written while no client is attached is
// dropped (like a console with no one watching). What the client types goes up to the driver or device above
// (VMH_IID_CHAR_PORT, e.g. through Char into the UART's receive FIFO); when the device takes only part of it, the
// rest is retried every millisecond and the socket is not read meanwhile (flow control towards the client).
// A slow client throttles writes: they wait for the socket to drain (Char's I/O thread is the writer, so neither
// the guest nor the walk thread blocks). The I/O thread ("unixsock-io") accepts, reads, and delivers input.
#if canImport(Glibc)
import Glibc
#endif
import PluginSDK

/// The UnixSocket driver.
final class UnixSocket: DriverPlugin, @unchecked Sendable {
    static let name = "UnixSocket"
    static let description = "Char stream served on a Unix socket (setting `path`); input goes up to the device"
    static let maxInstances: UInt32 = 64

    private let context: DriverContext
    private let path: String
    private var listenFD: Int32 = -1
    private var wakePipe: (read: Int32, write: Int32) = (-1, -1)
    /// Guards `clientFD` replacement and every write to it.
    private let clientLock = ConditionLock()
    private var clientFD: Int32 = -1
    private let stopFlag = StopFlag()
    private var connector: OfferedCharConnector?
    private var worker: WorkerThread?
    /// The input port above (resolved in initComplete, read by the I/O thread).
    private let abovePort = AbovePort()

    init(context: DriverContext, flags: UInt32) throws {
        self.context = context
        try context.config.validate(keys: ["path"])
        path = try context.config.string("path")
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity else {
            throw ConfigError.invalidValue(key: "path", message: "a Unix socket path needs 1...\(capacity - 1) bytes")
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw ConfigError.invalidValue(key: "path", message: "'\(path)' exists and is not a socket")
            }
            unlink(path)
        }
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listenFD >= 0 else { throw PluginError(.io, "socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in pathBytes.enumerated() { raw[i] = b }
            raw[pathBytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(listenFD, 4) == 0 else {
            let message = String(cString: strerror(errno))
            close(listenFD)
            listenFD = -1
            throw PluginError(.io, "cannot listen on '\(path)' (setting `path`): \(message)")
        }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            close(listenFD)
            listenFD = -1
            throw PluginError(.io, "pipe2(): \(String(cString: strerror(errno)))")
        }
        wakePipe = (fds[0], fds[1])
        for fd in fds { configureDescriptor(fd) }
        connector = context.offerCharConnector(write: { [unowned self] bytes in self.send(bytes) })
        worker = try WorkerThread.start(name: "unixsock-io") { [unowned self] in self.run() }
        context.log("listening on \(path)")
    }

    func queryInterface(iid: InterfaceID) -> UnsafeMutableRawPointer? {
        connector?.answer(iid)
    }

    func initComplete() throws {
        abovePort.set(context.queryAbove(CharPort.self))
    }

    func destruct() {
        stopFlag.set()
        if wakePipe.write >= 0 {
            var byte: UInt8 = 1
            _ = write(wakePipe.write, &byte, 1)
        }
        worker?.join()
        worker = nil
        clientLock.withLock {
            if clientFD >= 0 { close(clientFD) }
            clientFD = -1
        }
        if listenFD >= 0 { close(listenFD) }
        if wakePipe.read >= 0 { close(wakePipe.read) }
        if wakePipe.write >= 0 { close(wakePipe.write) }
        listenFD = -1
        wakePipe = (-1, -1)
        unlink(path)
    }

    // MARK: Output (the caller's thread, usually Char's I/O thread)

    private func send(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        guard let base = bytes.baseAddress else { return 0 }
        return clientLock.withLock {
            guard clientFD >= 0 else { return Int64(bytes.count) }  // nobody attached: dropped
            var done = 0
            while done < bytes.count {
                let n = Glibc.send(clientFD, base + done, bytes.count - done, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if n > 0 {
                    done += n
                    continue
                }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if stopFlag.isSet { return Int64(done) }
                    var p = pollfd(fd: clientFD, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 100)
                    if p.revents & Int16(POLLERR | POLLHUP) != 0 { break }
                    continue
                }
                break  // EPIPE / ECONNRESET: the client went away; the rest is dropped
            }
            return Int64(bytes.count)
        }
    }

    // MARK: The I/O thread

    private func run() {
        let bufferSize = 4096
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var client: Int32 = -1  // this thread's view of clientFD (only this thread replaces or closes it)
        while !stopFlag.isSet {
            var fds = [pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: client, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, client >= 0 ? 3 : 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                context.log(.error, "poll failed: \(String(cString: strerror(errno))); the console stops")
                return
            }
            if fds[0].revents != 0 { continue }  // woken: re-check the stop flag
            if fds[1].revents & Int16(POLLIN) != 0 {
                let accepted = accept(listenFD, nil, nil)
                if accepted >= 0 {
                    configureDescriptor(accepted)
                    replaceClient(&client, with: accepted)
                }
            }
            if client >= 0, fds[2].revents != 0 {
                let n = read(client, buffer.baseAddress, bufferSize)
                if n > 0 {
                    deliver(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    replaceClient(&client, with: -1)
                }
            }
        }
    }

    private func replaceClient(_ client: inout Int32, with new: Int32) {
        let old = client
        clientLock.withLock {
            clientFD = new
        }
        if old >= 0 { close(old) }
        client = new
    }

    /// Hands `bytes` to the device above, retrying the part it refuses until it takes everything (or we stop).
    private func deliver(_ bytes: UnsafeRawBufferPointer) {
        var done = 0
        while done < bytes.count && !stopFlag.isSet {
            let (ready, port) = abovePort.get()
            guard ready else {
                PluginThread.sleep(milliseconds: 1)  // the chain is not complete yet
                continue
            }
            guard let port else { return }  // nobody above takes input: discarded
            let n = port.receive(UnsafeRawBufferPointer(rebasing: bytes[done...]))
            if n < 0 { return }
            done += Int(n)
            if done < bytes.count { PluginThread.sleep(milliseconds: 1) }
        }
    }
}

/// Non-blocking and close-on-exec.
private func configureDescriptor(_ fd: Int32) {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
}

/// A stop flag shared by callbacks and the I/O thread.
private final class StopFlag: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }

    func set() { lock.withLock { value = true } }
}

/// The input port of the driver or device above, set once the chain is complete.
private final class AbovePort: @unchecked Sendable {
    private let lock = ConditionLock()
    private var ready = false
    private var port: CharPort?

    func set(_ port: CharPort?) {
        lock.withLock {
            self.port = port
            ready = true
        }
    }

    func get() -> (ready: Bool, port: CharPort?) { lock.withLock { (ready, port) } }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, drivers: [UnixSocket.self])
}
