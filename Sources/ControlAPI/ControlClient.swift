import Glibc
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization

/// A blocking client of the control API (the `vmhost` client verbs, tests, benchmarks): one keep-alive
/// connection, one request at a time, on the caller's thread — a plain Unix socket written and read directly,
/// with NIO's HTTP codec (in an `EmbeddedChannel` made per exchange on the calling thread, no threads of its
/// own) encoding requests and parsing answers. No event loop hop sits between the caller and the socket, which
/// keeps the measured latency the server's.
public final class ControlClient: @unchecked Sendable {
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
        case socketFailed(path: String, reason: String)

        public var description: String {
            switch self {
            case let .connectFailed(path, reason): return "cannot connect to \(path): \(reason)"
            case let .connectionClosed(path): return "\(path): the server closed the connection without an answer"
            case let .timedOut(path, ms): return "\(path): no answer within \(ms) ms"
            case let .socketFailed(path, reason): return "\(path): \(reason)"
            }
        }
    }

    public let socketPath: String
    private let fd: Int32
    private let raw: Bool
    /// The wait for an answer when a call names none (nil: wait as long as the operation takes).
    public let defaultTimeoutMilliseconds: Int64?
    private let lock = Mutex<Void>(())
    private let shutDown = Atomic<Bool>(false)
    /// The codec and the thread that made it (reused while the same thread asks; guarded by `lock`).
    private nonisolated(unsafe) var cachedCodec: (codec: EmbeddedChannel, thread: pthread_t)?

    private init(socketPath: String, fd: Int32, raw: Bool, defaultTimeoutMilliseconds: Int64?) {
        self.socketPath = socketPath
        self.fd = fd
        self.raw = raw
        self.defaultTimeoutMilliseconds = defaultTimeoutMilliseconds
    }

    deinit {
        Glibc.close(fd)
    }

    /// The HTTP codec for an exchange: request encoder (or the raw stand-in) and response decoder. An
    /// `EmbeddedChannel` belongs to the thread that made it: it is reused while the same thread asks, else a
    /// new one is made. Called under `lock`.
    private func makeCodec() throws -> EmbeddedChannel {
        let me = pthread_self()
        if let cached = cachedCodec, pthread_equal(cached.thread, me) != 0 { return cached.codec }
        let codec = EmbeddedChannel()
        let sync = codec.pipeline.syncOperations
        if raw { try sync.addHandler(RawRequestWriter()) } else { try sync.addHandler(HTTPRequestEncoder()) }
        try sync.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
        cachedCodec = (codec, me)
        return codec
    }

    /// Connects to the API socket. `raw`: requests are sent as the given bytes (`sendRaw`), for tests of
    /// malformed input; answers are still parsed by NIO's response decoder. `defaultTimeoutMilliseconds`: how
    /// long a request that names no timeout waits for its answer (nil: as long as the operation takes).
    public static func connect(socketPath: String, raw: Bool = false,
                               defaultTimeoutMilliseconds: Int64? = nil) throws -> ControlClient {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError.connectFailed(path: socketPath, reason: String(cString: strerror(errno))) }
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard socketPath.utf8.count < capacity else {
            Glibc.close(fd)
            throw ClientError.connectFailed(path: socketPath, reason: "path longer than \(capacity - 1) bytes")
        }
        let rc = UnixSocketAddress.with(socketPath) { Glibc.connect(fd, $0, $1) }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw ClientError.connectFailed(path: socketPath, reason: reason)
        }
        return ControlClient(socketPath: socketPath, fd: fd, raw: raw,
                             defaultTimeoutMilliseconds: defaultTimeoutMilliseconds)
    }

    /// Sends one request and waits for its answer (`timeoutMilliseconds` nil: the client's default).
    public func request(_ method: HTTPMethod, _ path: String, json: [UInt8]? = nil,
                        timeoutMilliseconds: Int64? = nil) throws -> Response {
        try lock.withLock { _ in
            let codec = try makeCodec()
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "localhost")
            if let json {
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: String(json.count))
            }
            try codec.writeOutbound(HTTPClientRequestPart.head(
                HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)))
            if let json { try codec.writeOutbound(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: json)))) }
            try codec.writeOutbound(HTTPClientRequestPart.end(nil))
            do {
                try sendEncoded(codec)
                return try receive(codec, timeoutMilliseconds: timeoutMilliseconds ?? defaultTimeoutMilliseconds,
                                   onLine: nil)
            } catch {
                cachedCodec = nil  // the decoder may hold half an answer
                throw error
            }
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
        try sendRaw(bytes, answers: 1, timeoutMilliseconds: timeoutMilliseconds).first
    }

    /// Sends `bytes` (holding `answers` pipelined requests) as they are and collects up to `answers` answers, in
    /// order; fewer if the server closed the connection.
    public func sendRaw(_ bytes: [UInt8], answers: Int, timeoutMilliseconds: Int64? = 10_000) throws -> [Response] {
        try lock.withLock { _ in
            cachedCodec = nil  // raw exchanges may leave the decoder anywhere: start and end fresh
            defer { cachedCodec = nil }
            let codec = try makeCodec()
            // The response decoder pairs answers with requests: let it see stand-in requests (the raw writer
            // swallows them), then put the real bytes on the socket.
            for _ in 0..<answers {
                try codec.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET,
                                                                                   uri: "/")))
            }
            try bytes.withUnsafeBytes { try writeAll($0) }
            var responses: [Response] = []
            for _ in 0..<answers {
                do {
                    responses.append(try receive(codec, timeoutMilliseconds: timeoutMilliseconds, onLine: nil))
                } catch ClientError.connectionClosed {
                    break
                }
            }
            return responses
        }
    }

    /// `GET /events`: calls `onLine` with every line (without the newline) until it returns false or the server
    /// ends the stream. Returns the answer's status and headers (body empty).
    @discardableResult
    public func followEvents(path: String = "/events", _ onLine: @escaping (String) -> Bool) throws -> Response {
        try lock.withLock { _ in
            let codec = try makeCodec()
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "localhost")
            try codec.writeOutbound(HTTPClientRequestPart.head(
                HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)))
            try codec.writeOutbound(HTTPClientRequestPart.end(nil))
            defer { cachedCodec = nil }
            try sendEncoded(codec)
            return try receive(codec, timeoutMilliseconds: nil, onLine: onLine)
        }
    }

    /// Ends the connection; a request or event stream blocked in another thread returns.
    public func close() {
        guard !shutDown.exchange(true, ordering: .sequentiallyConsistent) else { return }
        shutdown(fd, Int32(SHUT_RDWR))
    }

    // MARK: Socket I/O

    private func sendEncoded(_ codec: EmbeddedChannel) throws {
        while let data = try codec.readOutbound(as: IOData.self) {
            guard case var .byteBuffer(buffer) = data else { continue }
            try buffer.withUnsafeReadableBytes { try writeAll($0) }
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { throw ClientError.connectionClosed(path: socketPath) }
                throw ClientError.socketFailed(path: socketPath, reason: "send: " + String(cString: strerror(errno)))
            }
            offset += n
        }
    }

    /// Reads until one whole answer was parsed (or, streaming, until `onLine` says stop or the stream ends).
    private func receive(_ codec: EmbeddedChannel, timeoutMilliseconds: Int64?,
                         onLine: ((String) -> Bool)?) throws -> Response {
        var response = Response(status: 0, headers: [], body: [])
        var partialLine: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let deadline = timeoutMilliseconds.map { Self.nowMilliseconds() + $0 }
        while true {
            // Parts already decoded first.
            while let part = try codec.readInbound(as: HTTPClientResponsePart.self) {
                switch part {
                case let .head(head):
                    response.status = Int(head.status.code)
                    response.headers = head.headers.map { (name: $0.name, value: $0.value) }
                case var .body(bytes):
                    guard let chunk = bytes.readBytes(length: bytes.readableBytes) else { continue }
                    guard let onLine else {
                        response.body.append(contentsOf: chunk)
                        continue
                    }
                    partialLine.append(contentsOf: chunk)
                    while let newline = partialLine.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: partialLine[..<newline], as: UTF8.self)
                        partialLine.removeSubrange(...newline)
                        if !onLine(line) {
                            close()
                            return response
                        }
                    }
                case .end:
                    return response
                }
            }
            if let deadline {
                let left = deadline - Self.nowMilliseconds()
                guard left > 0 else { throw ClientError.timedOut(path: socketPath, milliseconds: timeoutMilliseconds ?? 0) }
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, Int32(min(left, Int64(Int32.max))))
                if ready == 0 { throw ClientError.timedOut(path: socketPath, milliseconds: timeoutMilliseconds ?? 0) }
                if ready < 0, errno != EINTR {
                    throw ClientError.socketFailed(path: socketPath, reason: "poll: " + String(cString: strerror(errno)))
                }
                if ready < 0 { continue }
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET, response.status == 0 { throw ClientError.connectionClosed(path: socketPath) }
                if onLine != nil, response.status != 0 { return response }
                throw ClientError.socketFailed(path: socketPath, reason: "recv: " + String(cString: strerror(errno)))
            }
            if n == 0 {
                // End of stream: a stream that had begun is over; anything else got no answer.
                if onLine != nil, response.status != 0 { return response }
                throw ClientError.connectionClosed(path: socketPath)
            }
            do {
                try codec.writeInbound(ByteBuffer(bytes: buffer[0..<n]))
            } catch let error as HTTPParserError {
                if onLine != nil, response.status != 0 { return response }
                throw error
            }
        }
    }

    private static func nowMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// Stands where the request encoder would, in a raw client: drops the stand-in request parts the response
/// decoder passes down (the real bytes go to the socket directly).
final class RawRequestWriter: ChannelOutboundHandler {
    typealias OutboundIn = HTTPClientRequestPart

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed(())
    }
}
