import Synchronization
import Foundation
import Dispatch
import ControlAPI
import Glibc
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import VMM

/// The socket's protection: directory ownership and mode, socket mode 0600, and the SO_PEERCRED check.
@Suite(.serialized) struct SocketSecurityTests {
    private func quietLogger() -> Logger {
        var logger = Logger(label: "test.api")
        logger.logLevel = .critical
        return logger
    }

    @Test func socketIsMode600AndOwnedByTheUser() throws {
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        var st = stat()
        #expect(lstat(t.socketPath, &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFSOCK)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(st.st_uid == geteuid())
    }

    @Test func refusesADirectoryWritableByOthers() throws {
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        let dir = makePrivateDirectory()
        defer { removeDirectory(dir) }
        chmod(dir, 0o777)
        #expect(throws: ControlServerError.directoryWritableByOthers(directory: dir, mode: 0o777)) {
            _ = try ControlServer.start(vm: t.vm, socketPath: dir + "/api.sock", logger: quietLogger())
        }
        #expect(access(dir + "/api.sock", F_OK) != 0)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to chown"))
    func refusesADirectoryOwnedBySomeoneElse() throws {
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        let dir = makePrivateDirectory()
        defer { removeDirectory(dir) }
        chown(dir, 65534, 65534)
        #expect(throws: ControlServerError.directoryNotOwned(directory: dir, ownerUID: 65534, userUID: 0)) {
            _ = try ControlServer.start(vm: t.vm, socketPath: dir + "/api.sock", logger: quietLogger())
        }
    }

    @Test func refusesMissingDirectoriesAndNonSocketFiles() throws {
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        #expect(throws: ControlServerError.self) {
            _ = try ControlServer.start(vm: t.vm, socketPath: "/nonexistent-vmhost-dir/api.sock", logger: quietLogger())
        }
        let file = t.directory + "/plain-file"
        let fd = open(file, O_CREAT | O_WRONLY, 0o600)
        close(fd)
        #expect(throws: ControlServerError.pathOccupied(path: file)) {
            _ = try ControlServer.start(vm: t.vm, socketPath: file, logger: quietLogger())
        }
        let long = t.directory + "/" + String(repeating: "s", count: 120)
        #expect(throws: ControlServerError.socketPathTooLong(path: long, maximum: 107)) {
            _ = try ControlServer.start(vm: t.vm, socketPath: long, logger: quietLogger())
        }
    }

    /// A second VM process given the path of a live one's socket is refused, naming the path, and the first one
    /// keeps serving: a socket is never stolen from a server that still accepts on it.
    @Test func refusesASocketThatAnotherServerServes() throws {
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        #expect(throws: ControlServerError.socketInUse(path: t.socketPath)) {
            _ = try ControlServer.listen(socketPath: t.socketPath, logger: quietLogger())
        }
        #expect(ControlServerError.socketInUse(path: t.socketPath).description.contains("another process is serving"))
        let client = try t.client()
        defer { client.close() }
        #expect(try client.request(.GET, "/vm").decode(VMStatusResponse.self).state == "running")
    }

    /// The socket file left behind by a VM process that died (nobody listens on it) is replaced.
    @Test func replacesAStaleSocket() throws {
        let dir = makePrivateDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/api.sock"
        leaveStaleSocket(at: path)
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK)

        let server = try ControlServer.listen(socketPath: path, logger: quietLogger())
        defer { server.close() }
        try server.waitUntilServing()
        let client = try ControlClient.connect(socketPath: path)
        defer { client.close() }
        #expect(try client.request(.GET, "/vm").decode(VMStatusResponse.self).state == "creating")
        #expect(lstat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
    }

    /// Two VM processes started on one path at the same instant (threads here, racing through the same steps):
    /// exactly one serves it, the other is told the socket is in use — never both "succeeding" with one left on
    /// a deleted file, never both failing. Closing the winner removes its socket and the lock file.
    @Test func twoServersStartingOnOnePathAtOnce() throws {
        let dir = makePrivateDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/api.sock"
        for round in 0..<60 {
            if round % 2 == 1 { leaveStaleSocket(at: path) }
            let go = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            let results = Mutex<[Result<ControlServer, ControlServerError>]>([])
            for _ in 0..<2 {
                done.enter()
                Thread.detachNewThread {
                    go.wait()
                    let result = Result { () throws(ControlServerError) in
                        try ControlServer.listen(socketPath: path, logger: quietLogger())
                    }
                    results.withLock { $0.append(result) }
                    done.leave()
                }
            }
            go.signal()
            go.signal()
            done.wait()
            let all = results.withLock { $0 }
            let servers = all.compactMap { try? $0.get() }
            let errors = all.compactMap { if case let .failure(error) = $0 { error } else { nil } }
            #expect(servers.count == 1, "round \(round): \(errors)")
            #expect(errors == [.socketInUse(path: path)], "round \(round)")
            guard let server = servers.first else { continue }
            let client = try ControlClient.connect(socketPath: path, defaultTimeoutMilliseconds: 30_000)
            #expect(try client.request(.GET, "/vm").status == 200)
            client.close()
            server.close()
            #expect(access(path, F_OK) != 0 && access(path + ".lock", F_OK) != 0, "round \(round)")
        }
    }

    /// A server removes only the socket it bound: if the file at its path was replaced meanwhile (by hand, or by
    /// a server that takes no lock), closing leaves the replacement alone.
    @Test func closeRemovesOnlyItsOwnSocket() throws {
        let dir = makePrivateDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/api.sock"
        let server = try ControlServer.listen(socketPath: path, logger: quietLogger())
        unlink(path)
        leaveStaleSocket(at: path)
        var before = stat()
        #expect(lstat(path, &before) == 0)
        server.close()
        var after = stat()
        #expect(lstat(path, &after) == 0 && after.st_ino == before.st_ino)
        #expect(throws: ControlServerError.socketFailed(path: path, reason: "the server is closed")) {
            try server.waitUntilServing()
        }
    }

    /// Binds a socket at `path` and closes it without unlinking: what a killed server leaves behind.
    private func leaveStaleSocket(at path: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
    }

    /// `listen` returns with the socket accepting while the event loop may still be starting: a client that
    /// connects and sends at once is answered, whatever the order.
    @Test func aClientConnectingAsSoonAsListenReturnsIsAnswered() throws {
        for _ in 0..<20 {
            let dir = makePrivateDirectory()
            defer { removeDirectory(dir) }
            let server = try ControlServer.listen(socketPath: dir + "/api.sock", logger: quietLogger())
            defer { server.close() }
            let client = try ControlClient.connect(socketPath: dir + "/api.sock", defaultTimeoutMilliseconds: 30_000)
            defer { client.close() }
            #expect(try client.request(.GET, "/vm").status == 200)
        }
    }

    /// A child process that becomes uid 65534 connects and sends a pause: with the socket at 0600 it cannot even
    /// connect; with the file-system protection removed (the test opens the directory and socket to everyone),
    /// the SO_PEERCRED check refuses it with a 403 — and the VM stays running.
    @Test(.enabled(if: geteuid() == 0, "setuid() needs root"))
    func peersWithAnotherUIDAreRefused() throws {
        let t = try APITestVM(vcpus: 1)
        defer { t.shutdown() }
        let request = "PATCH /vm HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n{\"state\":\"Paused\"}"

        let blocked = runAsNobody(socketPath: t.socketPath, request: request)
        #expect(blocked.connectErrno == EACCES)
        #expect(t.vm.state == .running)

        chmod(t.directory, 0o755)
        chmod(t.socketPath, 0o666)
        let refused = runAsNobody(socketPath: t.socketPath, request: request)
        #expect(refused.connectErrno == 0)
        let response = try parseResponse(refused.reply)
        #expect(response?.status == .forbidden)
        #expect(response?.body.contains("peer uid 65534 is not the owner") == true)
        #expect(t.vm.state == .running)

        // The owner is still served.
        let client = try t.client()
        defer { client.close() }
        #expect(try client.request(.PATCH, "/vm", body: VMStatePatch(state: .paused)).status == 204)
    }

    /// Forks; the child drops to uid/gid 65534, connects to `socketPath`, writes `request` and sends back what it
    /// read. Only async-signal-safe calls in the child.
    private func runAsNobody(socketPath: String, request: String) -> (connectErrno: Int32, reply: [UInt8]) {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { return (-1, []) }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }  // not inherited by other tests' children
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in socketPath.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
        }
        let requestBytes = Array(request.utf8)
        // Allocated before the fork: the child of a multithreaded process must not call malloc.
        var childBuffer = [UInt8](repeating: 0, count: 4096)
        let pid = fork()
        if pid == 0 {
            alarm(20)  // a child that cannot finish ends instead of holding inherited descriptors
            close(pipeFDs[0])
            var status: Int32 = 0
            if setgroups(0, nil) != 0 || setgid(65534) != 0 || setuid(65534) != 0 { _exit(90) }
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if rc != 0 {
                status = errno
                _exit(status)
            }
            _ = requestBytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            while true {
                let n = childBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                _ = childBuffer.withUnsafeBytes { write(pipeFDs[1], $0.baseAddress, n) }
            }
            _exit(0)
        }
        close(pipeFDs[1])
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            // Bounded: a reply that does not come within 30 s ends the exchange (the test then fails on it).
            var poller = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 30_000) <= 0 { kill(pid, SIGKILL); break }
            let n = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            reply.append(contentsOf: buffer[0..<n])
        }
        close(pipeFDs[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let exitCode = (status >> 8) & 0xff
        return (exitCode, reply)
    }

    /// Parses a raw HTTP response with NIO's decoder.
    private func parseResponse(_ bytes: [UInt8]) throws -> (status: HTTPResponseStatus, body: String)? {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
        try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .PATCH,
                                                                             uri: "/vm")))
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        var status: HTTPResponseStatus?
        var body = ""
        while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
            switch part {
            case let .head(head): status = head.status
            case let .body(buffer): body += String(buffer: buffer)
            case .end: break
            }
        }
        _ = try? channel.finish()
        return status.map { ($0, body) }
    }
}
