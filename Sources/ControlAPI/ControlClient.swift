import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A blocking client of the control API (the `vmhost` client verbs, tests, benchmarks): one keep-alive
/// connection to the socket, one request at a time. Requests are encoded and responses parsed by NIO's HTTP
/// codec. Not for use on an event loop.
public final class ControlClient: Sendable {
    /// One HTTP answer.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        /// The first header named `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        /// The body as text.
        public var text: String { String(decoding: body, as: UTF8.self) }

        /// The server's `fault_message`, if the body is a fault.
        public var faultMessage: String? { try? ControlJSON.decode(ControlFault.self, from: body).faultMessage }

        /// The body decoded as `type`.
        public func decode<T: Decodable>(_ type: T.Type) throws -> T { try ControlJSON.decode(type, from: body) }
    }

    /// Why a request got no answer.
    public enum ClientError: Error, CustomStringConvertible {
        case connectFailed(path: String, reason: String)
        case connectionClosed(path: String)
        case timedOut(path: String, milliseconds: Int64)

        public var description: String {
            switch self {
            case let .connectFailed(path, reason): return "cannot connect to \(path): \(reason)"
            case let .connectionClosed(path): return "\(path): the server closed the connection without an answer"
            case let .timedOut(path, ms): return "\(path): no answer within \(ms) ms"
            }
        }
    }

    public let socketPath: String
    private let channel: any Channel
    private let handler: NIOLoopBound<ResponseCollector>
    private let raw: Bool

    private init(socketPath: String, channel: any Channel, handler: NIOLoopBound<ResponseCollector>, raw: Bool) {
        self.socketPath = socketPath
        self.channel = channel
        self.handler = handler
        self.raw = raw
    }

    /// Connects to the API socket. `raw`: requests are sent as the given bytes (`sendRaw`), for tests of
    /// malformed input; answers are still parsed by NIO's response decoder.
    public static func connect(socketPath: String, raw: Bool = false,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws -> ControlClient {
        let bootstrap = ClientBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                if raw { try sync.addHandler(RawRequestWriter()) } else { try sync.addHandler(HTTPRequestEncoder()) }
                try sync.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                try sync.addHandler(ResponseCollector(), name: "collector")
            }
        }
        let channel: any Channel
        do {
            channel = try bootstrap.connect(unixDomainSocketPath: socketPath).wait()
        } catch {
            throw ClientError.connectFailed(path: socketPath, reason: "\(error)")
        }
        let handler = try channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ResponseCollector.self),
                         eventLoop: channel.eventLoop)
        }.wait()
        return ControlClient(socketPath: socketPath, channel: channel, handler: handler, raw: raw)
    }

    /// Sends one request and waits for its answer (`timeoutMilliseconds` nil: forever).
    public func request(_ method: HTTPMethod, _ path: String, json: [UInt8]? = nil,
                        timeoutMilliseconds: Int64? = nil) throws -> Response {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "localhost")
        if let json {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(json.count))
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        let channel = self.channel
        let handler = self.handler
        return try exchange(timeoutMilliseconds: timeoutMilliseconds) { promise in
            handler.value.expect(promise, streaming: nil)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let json {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: json))), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
    }

    /// `request` with an `Encodable` body.
    public func request<Body: Encodable>(_ method: HTTPMethod, _ path: String, body: Body,
                                         timeoutMilliseconds: Int64? = nil) throws -> Response {
        try request(method, path, json: ControlJSON.encode(body), timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Sends `bytes` as they are (client made with `raw: true`) and waits for an answer; nil if the server
    /// closed the connection without one.
    public func sendRaw(_ bytes: [UInt8], timeoutMilliseconds: Int64? = 10_000) throws -> Response? {
        let channel = self.channel
        let handler = self.handler
        do {
            return try exchange(timeoutMilliseconds: timeoutMilliseconds) { promise in
                handler.value.expect(promise, streaming: nil)
                // The response decoder must see a request go out (it pairs responses with requests); the raw
                // writer below it swallows that stand-in and the real bytes are written below the decoder.
                let standIn = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
                channel.write(HTTPClientRequestPart.head(standIn), promise: nil)
                if let context = try? channel.pipeline.syncOperations.context(handlerType: RawRequestWriter.self) {
                    context.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)), promise: nil)
                }
            }
        } catch ClientError.connectionClosed {
            return nil
        }
    }

    /// `GET /events`: calls `onLine` with every line (without the newline) until it returns false or the server
    /// ends the stream. Returns the answer's head status and headers (body empty).
    @discardableResult
    public func followEvents(path: String = "/events", _ onLine: @escaping @Sendable (String) -> Bool) throws
        -> Response {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "localhost")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        let channel = self.channel
        let handler = self.handler
        let result = try exchange(timeoutMilliseconds: nil) { promise in
            handler.value.expect(promise, streaming: onLine)
            channel.writeAndFlush(HTTPClientRequestPart.head(head), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        return result
    }

    /// Closes the connection.
    public func close() {
        try? channel.close().wait()
    }

    private func exchange(timeoutMilliseconds: Int64?,
                       _ send: @escaping @Sendable (EventLoopPromise<Response>) -> Void) throws -> Response {
        let channel = self.channel
        let path = socketPath
        let promise = channel.eventLoop.makePromise(of: Response.self)
        channel.eventLoop.execute {
            send(promise)
            if let timeoutMilliseconds {
                let timeout = channel.eventLoop.scheduleTask(in: .milliseconds(timeoutMilliseconds)) {
                    promise.fail(ClientError.timedOut(path: path, milliseconds: timeoutMilliseconds))
                    channel.close(promise: nil)
                }
                promise.futureResult.whenComplete { _ in timeout.cancel() }
            }
        }
        return try promise.futureResult.wait()
    }
}

/// Marks the pipeline position raw requests are written from (between the socket and the response decoder),
/// and drops the stand-in request parts the decoder passes down.
final class RawRequestWriter: ChannelOutboundHandler {
    typealias OutboundIn = HTTPClientRequestPart

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed(())
    }
}

/// Collects one response at a time (or streams its body lines) for `ControlClient`.
final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var promise: EventLoopPromise<ControlClient.Response>?
    private var streaming: (@Sendable (String) -> Bool)?
    private var response = ControlClient.Response(status: 0, headers: [], body: [])
    private var partialLine: [UInt8] = []
    private var closed = false

    func expect(_ promise: EventLoopPromise<ControlClient.Response>, streaming: (@Sendable (String) -> Bool)?) {
        guard !closed else {
            promise.fail(ControlClient.ClientError.connectionClosed(path: ""))
            return
        }
        self.promise = promise
        self.streaming = streaming
        response = ControlClient.Response(status: 0, headers: [], body: [])
        partialLine = []
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            response.status = Int(head.status.code)
            response.headers = head.headers.map { (name: $0.name, value: $0.value) }
        case var .body(buffer):
            guard let bytes = buffer.readBytes(length: buffer.readableBytes) else { return }
            if let streaming {
                partialLine.append(contentsOf: bytes)
                while let newline = partialLine.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: partialLine[..<newline], as: UTF8.self)
                    partialLine.removeSubrange(...newline)
                    if !streaming(line) {
                        self.streaming = nil
                        finish()
                        context.close(promise: nil)
                        return
                    }
                }
            } else {
                response.body.append(contentsOf: bytes)
            }
        case .end:
            finish()
        }
    }

    private func finish() {
        let promise = self.promise
        self.promise = nil
        promise?.succeed(response)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if streaming != nil, response.status != 0 {
            finish()
        } else {
            promise?.fail(ControlClient.ClientError.connectionClosed(path: ""))
            promise = nil
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if streaming != nil, response.status != 0, error is HTTPParserError {
            // The server went away mid-stream: the stream is over.
            finish()
            context.close(promise: nil)
            return
        }
        promise?.fail(error)
        promise = nil
        context.close(promise: nil)
    }
}
