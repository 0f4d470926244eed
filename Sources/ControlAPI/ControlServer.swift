import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import VMM

/// The control API server of one VM: HTTP/1.1 with JSON bodies on a Unix domain socket (`vmhost run
/// --api-socket PATH`), routes as in `docs/api/openapi.yaml`.
///
/// Security: the socket's directory must belong to the user and be writable by nobody else (else `start`
/// refuses), the socket gets mode 0600, and every connection's peer uid (SO_PEERCRED) must equal the server's
/// effective uid — other peers get a 403 and are disconnected before their request is read. Requests are bounded
/// in size and time (`ControlServerLimits`).
///
/// Threads: one NIO event loop for all connections; VM operations run on one dedicated operation thread (they
/// block on EMTs), never on the event loop.
public final class ControlServer: Sendable {
    /// The socket path.
    public let socketPath: String
    private let service: ControlService
    private let group: MultiThreadedEventLoopGroup
    /// The listening channel, once the event loop has taken the socket.
    private let channel: EventLoopFuture<any Channel>
    private let listening: ListeningSocket
    private let closed = Atomic<Bool>(false)

    private init(socketPath: String, service: ControlService, group: MultiThreadedEventLoopGroup,
                 channel: EventLoopFuture<any Channel>, listening: ListeningSocket) {
        self.socketPath = socketPath
        self.service = service
        self.group = group
        self.channel = channel
        self.listening = listening
    }

    /// Starts serving `vm` on `socketPath` (`listen`, `waitUntilServing`, `attach`).
    public static func start(vm: VirtualMachine, socketPath: String,
                             devices: (@Sendable () -> [DeviceInfo])? = nil,
                             timeline: BootTimeline = .process,
                             limits: ControlServerLimits = ControlServerLimits(),
                             threadPriority: ControlThreadPriority = .normal,
                             logger: Logger = Logger(label: "vmhost.api")) throws(ControlServerError) -> ControlServer {
        let server = try listen(socketPath: socketPath, timeline: timeline, limits: limits,
                                threadPriority: threadPriority, logger: logger)
        do throws(ControlServerError) {
            try server.waitUntilServing()
        } catch {
            server.close()
            throw error
        }
        server.attach(vm: vm, devices: devices)
        return server
    }

    /// Starts listening on `socketPath` before the VM exists (so the socket is ready early in the process's
    /// life) and marks `apiSocketReady` in `timeline`. Until `attach`, `GET /vm` answers state `creating` with
    /// the boot timeline, `GET /devices` an empty list, and operations 409.
    ///
    /// The socket accepts connections when this returns; the event loop that answers them starts on its own
    /// thread meanwhile (connections wait in the kernel's backlog), so the caller goes on loading plugins and
    /// building the VM in parallel. `waitUntilServing()` says whether the event loop took the socket.
    public static func listen(socketPath: String, timeline: BootTimeline = .process,
                              limits: ControlServerLimits = ControlServerLimits(),
                              threadPriority: ControlThreadPriority = .normal,
                              logger: Logger = Logger(label: "vmhost.api")) throws(ControlServerError) -> ControlServer {
        let uid = geteuid()
        try SocketSecurity.checkBeforeBind(path: socketPath, uid: uid)
        let listening = try ListeningSocket.open(path: socketPath, uid: uid)
        timeline.mark(.apiSocketReady)
        let service = ControlService(timeline: timeline, limits: limits, ownerUID: uid, logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        group.next().execute { _ = threadPriority.apply() }
        service.runner.applyPriority(threadPriority)
        let channel = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: ListeningSocket.backlog)
            .childChannelOption(.maxMessagesPerRead, value: 8)
            .childChannelInitializer { channel in
                ControlServer.initializeConnection(channel, service: service)
            }
            .withBoundSocket(listening.descriptor)
        channel.whenFailure { error in
            logger.critical("control API on \(socketPath): the event loop cannot serve the socket: \(error)")
        }
        logger.info("control API listening on \(socketPath)")
        return ControlServer(socketPath: socketPath, service: service, group: group, channel: channel,
                             listening: listening)
    }

    /// Waits until the event loop serves the socket; throws if it could not take it or the server is closed. Not
    /// on the server's event loop.
    public func waitUntilServing() throws(ControlServerError) {
        guard !closed.load(ordering: .sequentiallyConsistent) else {
            throw .socketFailed(path: socketPath, reason: "the server is closed")
        }
        do {
            _ = try channel.wait()
        } catch {
            throw .socketFailed(path: socketPath, reason: "the event loop cannot serve it: \(error)")
        }
    }

    /// Serves `vm` from now on. `devices` returns the current device instance tree for `GET /devices`; by
    /// default that is the instance tree of the VM's PDM (`vm.parts`), whose walk progress lines then also go to
    /// the event stream. A second attach is ignored.
    public func attach(vm: VirtualMachine, devices: (@Sendable () -> [DeviceInfo])? = nil) {
        let pdm = devices == nil ? vm.parts?.pdm : nil
        let noDevices: @Sendable () -> [DeviceInfo] = { [] }
        let deviceSource = devices ?? pdm.map { DeviceInfo.source(for: $0) } ?? noDevices
        guard service.attach(vm: vm, devices: deviceSource) else {
            service.logger.warning("control API: a VM is attached already; ignoring the second")
            return
        }
        if let pdm { follow(pdm) }
    }

    /// Publishes a power-walk progress line (who is still pending) on the event stream. Any thread.
    public func publishWalkProgress(operation: String, elapsedMilliseconds: Int64, passes: Int, pending: [String]) {
        service.hub.publish(type: "progress") { event in
            event.operation = operation
            event.elapsedMs = elapsedMilliseconds
            event.passes = passes
            event.pending = pending
        }
    }

    /// Number of clients currently following `GET /events`.
    public var eventSubscriberCount: Int { service.hub.subscriberCount }

    /// Stops listening, lets the running operation finish and its answer go out, closes every connection,
    /// removes the socket. Not on the server's event loop. Idempotent.
    public func close() {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        if let listening = try? channel.wait() { try? listening.close().wait() }
        // Waits for the operation thread; its answer is then queued on the event loop.
        service.shutdown()
        // Ends the event streams; runs the queued answers (a power-off's 204) before the loop goes away.
        service.hub.finishAll()
        try? group.next().submit {}.wait()
        try? group.next().submit {}.wait()
        try? group.syncShutdownGracefully()
        listening.remove()
    }

    // MARK: Connections

    private static func initializeConnection(_ channel: any Channel, service: ControlService)
        -> EventLoopFuture<Void> {
        guard service.connections.wrappingAdd(1, ordering: .relaxed).newValue <= service.limits.maxConnections
        else {
            service.connections.subtract(1, ordering: .relaxed)
            service.logger.warning("control API: connection refused, already \(service.limits.maxConnections) clients")
            return channel.close()
        }
        channel.closeFuture.whenComplete { _ in service.connections.subtract(1, ordering: .relaxed) }
        let peer: EventLoopFuture<PeerCredentials>
        if let provider = channel as? any SocketOptionProvider {
            peer = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET),
                                                  name: SocketOptionName(SO_PEERCRED))
        } else {
            peer = channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        return peer.flatMapResult { credentials -> Result<Void, any Error> in
            Result {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(HTTPResponseEncoder())
                guard credentials.uid == service.ownerUID else {
                    service.logger.warning(
                        "control API: refused a connection from uid \(credentials.uid) pid \(credentials.pid)")
                    refuse(channel, uid: credentials.uid)
                    return
                }
                try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                try sync.addHandler(ControlConnectionHandler(service: service))
            }
        }.flatMapErrorThrowing { error in
            service.logger.warning("control API: cannot set up a connection: \(error)")
            channel.close(promise: nil)
            throw error
        }
    }

    /// Answers 403 to a peer with the wrong uid and hangs up; nothing it sends is read.
    private static func refuse(_ channel: any Channel, uid: UInt32) {
        let body = ControlJSON.encode(ControlFault(
            "connection refused: peer uid \(uid) is not the owner of this VM (uid \(geteuid()))"))
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .forbidden,
                                                                   headers: headers)), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
    }
}
