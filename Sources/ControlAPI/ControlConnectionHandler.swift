import NIOCore
import NIOHTTP1
import Synchronization
import VMM

/// One client connection: collects a request (bounded in size and time), routes it, answers it. Runs on the
/// connection's event loop; VM operations go to the service's operation thread and are answered when it is
/// done. Protocol errors get a 400 with the parser's reason and the connection is closed; the VM is untouched.
final class ControlConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let service: ControlService
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// The request is being discarded (too large); answer at its end or close.
    private var rejected = false
    /// An answer (operation) is outstanding: no request timeout now.
    private var busy = false
    /// The connection is an `/events` stream.
    private var subscription: UInt64?
    private var closing = false
    private var timer: Scheduled<Void>?
    /// Complete requests that arrived (pipelined) while an operation was outstanding, answered in order.
    private var pending: [(HTTPRequestHead, [UInt8])] = []
    /// The outstanding operation was already answered (a resume, answered the moment the VM is running).
    private var answeredEarly = false
    private static let maxPipelined = 16

    init(service: ControlService) {
        self.service = service
    }

    // MARK: Connection life cycle

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if let id = subscription { service.hub.unsubscribe(id) }
        subscription = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        if let id = subscription { service.hub.unsubscribe(id) }
    }

    private func armTimer(context: ChannelHandlerContext) {
        timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: .milliseconds(service.limits.requestTimeoutMilliseconds)) {
            let (handler, context) = loopBound.value
            handler.requestTimedOut(context: context)
        }
    }

    private func requestTimedOut(context: ChannelHandlerContext) {
        timer = nil
        guard !busy, subscription == nil, !closing else { return }
        let what = head == nil ? "no complete request head" : "the request body did not arrive"
        respondFault(context: context, status: .requestTimeout,
                     "request not complete within \(service.limits.requestTimeoutMilliseconds) ms (\(what))",
                     close: true)
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case let .head(requestHead):
            head = requestHead
            body.removeAll(keepingCapacity: true)
            rejected = false
            if subscription != nil {
                // Nothing may follow an /events request on its connection.
                closing = true
                context.close(promise: nil)
            }
        case var .body(buffer):
            guard !rejected else { return }
            if body.count + buffer.readableBytes > service.limits.maxBodyBytes {
                rejected = true
                body.removeAll()
                respondFault(context: context, status: .payloadTooLarge,
                             "request body larger than \(service.limits.maxBodyBytes) bytes", close: true)
                return
            }
            if let bytes = buffer.readBytes(length: buffer.readableBytes) { body.append(contentsOf: bytes) }
        case .end:
            guard !rejected, let requestHead = head else { return }
            timer?.cancel()
            timer = nil
            let requestBody = body
            head = nil
            body.removeAll(keepingCapacity: true)
            if busy {
                guard pending.count < Self.maxPipelined else {
                    closing = true
                    context.close(promise: nil)
                    return
                }
                pending.append((requestHead, requestBody))
            } else {
                handle(context: context, head: requestHead, body: requestBody)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        if error is HTTPParserError {
            // A malformed request: say why, then hang up (the parser cannot resynchronise). The VM never saw it.
            if subscription != nil || busy {
                closing = true
                context.close(promise: nil)
                return
            }
            respondFault(context: context, status: .badRequest, "malformed HTTP request: \(error)", close: true)
        } else {
            closing = true
            context.close(promise: nil)
        }
    }

    // MARK: Routing

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead, body: [UInt8]) {
        let keepAlive = head.isKeepAlive
        switch ControlRoute.resolve(method: head.method, uri: head.uri) {
        case .notFound:
            respondFault(context: context, status: .notFound,
                         "no route \(head.uri); routes: GET/PATCH /vm, PUT /actions, GET /devices, GET /events",
                         close: !keepAlive)
        case let .methodNotAllowed(allowed):
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            respondFault(context: context, status: .methodNotAllowed,
                         "\(head.method.rawValue) is not allowed on \(head.uri) (allowed: \(names))",
                         close: !keepAlive, extraHeaders: [("Allow", names)])
        case .route(.getVM):
            respond(context: context, status: .ok, json: ControlJSON.encode(service.status()), close: !keepAlive)
        case .route(.getDevices):
            let tree = DeviceTreeResponse(devices: service.devices())
            respond(context: context, status: .ok, json: ControlJSON.encode(tree), close: !keepAlive)
        case .route(.getEvents):
            startEventStream(context: context, head: head)
        case .route(.patchVM):
            patchVM(context: context, body: body, keepAlive: keepAlive)
        case .route(.putAction):
            putAction(context: context, body: body, keepAlive: keepAlive)
        }
    }

    private func patchVM(context: ChannelHandlerContext, body: [UInt8], keepAlive: Bool) {
        guard !body.isEmpty else {
            respondFault(context: context, status: .badRequest,
                         #"PATCH /vm needs a JSON body {"state": "Paused"} or {"state": "Resumed"}"#, close: !keepAlive)
            return
        }
        let patch: VMStatePatch
        do {
            patch = try ControlJSON.decode(VMStatePatch.self, from: body)
        } catch {
            respondFault(context: context, status: .badRequest, "PATCH /vm: \(ControlJSON.describe(error))",
                         close: !keepAlive)
            return
        }
        guard let target = VMStatePatch.TargetState(rawValue: patch.state) else {
            respondFault(context: context, status: .badRequest,
                         "PATCH /vm: unknown state '\(patch.state)' (expected Paused or Resumed)", close: !keepAlive)
            return
        }
        guard let vm = service.vm else {
            notYet(context: context, operation: target == .paused ? .suspend : .resume, keepAlive: keepAlive)
            return
        }
        // A resume is answered the moment the state machine says running (still inside the rendezvous, before
        // the vCPUs are back in the guest and busy on every core); a pause once the operation returned.
        let early: (from: VMState, to: VMState)? = target == .resumed ? (.resuming, .running) : nil
        runOperation(context: context, vm: vm, keepAlive: keepAlive, earlyAnswerAt: early) {
            switch target {
            case .paused: return try vm.suspend(reason: .user)
            case .resumed: return try vm.resume()
            }
        }
    }

    private func putAction(context: ChannelHandlerContext, body: [UInt8], keepAlive: Bool) {
        guard !body.isEmpty else {
            respondFault(context: context, status: .badRequest,
                         #"PUT /actions needs a JSON body {"action_type": "PowerOff"} or {"action_type": "Reset"}"#,
                         close: !keepAlive)
            return
        }
        let action: VMAction
        do {
            action = try ControlJSON.decode(VMAction.self, from: body)
        } catch {
            respondFault(context: context, status: .badRequest, "PUT /actions: \(ControlJSON.describe(error))",
                         close: !keepAlive)
            return
        }
        guard let type = VMAction.ActionType(rawValue: action.actionType) else {
            respondFault(context: context, status: .badRequest,
                         "PUT /actions: unknown action_type '\(action.actionType)' (expected PowerOff or Reset)",
                         close: !keepAlive)
            return
        }
        guard let vm = service.vm else {
            notYet(context: context, operation: type == .powerOff ? .powerOff : .reset, keepAlive: keepAlive)
            return
        }
        runOperation(context: context, vm: vm, keepAlive: keepAlive) {
            switch type {
            case .powerOff: return try vm.powerOff()
            case .reset: return try vm.reset()
            }
        }
    }

    /// Hands `operation` to the operation thread and answers when it returns: 204 (header `VMHost-Outcome:
    /// done` or `already-<state>`), 409 when the VM's state does not allow it, 500 when a device or the machine
    /// failed. With `earlyAnswerAt`, the 204 goes out as soon as this operation makes that transition (the
    /// listener is registered on the operation thread around this operation only, so no other operation's
    /// transition can trigger it); the connection stays busy until the operation has returned.
    private func runOperation(context: ChannelHandlerContext, vm: VirtualMachine, keepAlive: Bool,
                              earlyAnswerAt: (from: VMState, to: VMState)? = nil,
                              _ operation: @escaping @Sendable () throws -> VMOperationOutcome) {
        busy = true
        answeredEarly = false
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let future = service.runner.run(on: eventLoop) { () -> Result<VMOperationOutcome, VMError> in
            var token: VMStateMachine.ListenerToken?
            if let early = earlyAnswerAt {
                let latch = EarlyAnswerLatch()
                token = vm.stateMachine.addListener { new, old in
                    // On the EMT, state lock held: only hand the answer to the event loop.
                    guard old == early.from, new == early.to, latch.fire() else { return }
                    eventLoop.execute {
                        let (handler, context) = loopBound.value
                        handler.answerEarly(context: context, keepAlive: keepAlive)
                    }
                }
            }
            defer { if let token { vm.stateMachine.removeListener(token) } }
            do {
                return .success(try operation())
            } catch {
                return .failure(VMError.wrapping(error))
            }
        }
        future.whenComplete { result in
            let (handler, context) = loopBound.value
            handler.busy = false
            if handler.answeredEarly {
                handler.answeredEarly = false
                if case let .success(.failure(error)) = result {
                    handler.service.logger.error("control API: operation failed after its early answer: \(error)")
                }
                handler.continueAfterAnswer(context: context)
                return
            }
            switch result {
            case let .success(.success(outcome)):
                let label: String
                switch outcome {
                case .done: label = "done"
                case let .alreadyInState(state): label = "already-\(state.rawValue)"
                }
                handler.respond(context: context, status: .noContent, json: nil, close: !keepAlive,
                                extraHeaders: [("VMHost-Outcome", label)])
            case let .success(.failure(error)):
                handler.respondFault(context: context, status: Self.status(for: error), error.description,
                                     close: !keepAlive)
            case let .failure(error):
                handler.respondFault(context: context, status: .serviceUnavailable,
                                     "the control API is shutting down: \(error)", close: true)
            }
        }
    }

    private func answerEarly(context: ChannelHandlerContext, keepAlive: Bool) {
        guard busy, !answeredEarly, !closing, context.channel.isActive else { return }
        answeredEarly = true
        respond(context: context, status: .noContent, json: nil, close: !keepAlive,
                extraHeaders: [("VMHost-Outcome", "done")])
    }

    /// The answer to an operation before the VM exists (the socket listens while the VM is being built).
    private func notYet(context: ChannelHandlerContext, operation: VMOperation, keepAlive: Bool) {
        let error = VMError.invalidState(operation: operation, current: .creating)
        respondFault(context: context, status: Self.status(for: error), error.description, close: !keepAlive)
    }

    static func status(for error: VMError) -> HTTPResponseStatus {
        switch error {
        case .invalidState, .invalidTransition, .unexpectedState, .guruMeditation, .emtsTerminated:
            return .conflict
        default:
            return .internalServerError
        }
    }

    // MARK: Events

    private func startEventStream(context: ChannelHandlerContext, head: HTTPRequestHead) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-ndjson")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        headers.add(name: "Cache-Control", value: "no-store")
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok,
                                                                     headers: headers))), promise: nil)
        let vm = service.vm
        subscription = service.hub.subscribe(context.channel) { event in
            event.state = (vm?.state ?? .creating).rawValue
        }
    }

    // MARK: Writing

    private func respondFault(context: ChannelHandlerContext, status: HTTPResponseStatus, _ message: String,
                              close: Bool, extraHeaders: [(String, String)] = []) {
        respond(context: context, status: status, json: ControlJSON.encode(ControlFault(message)), close: close,
                extraHeaders: extraHeaders)
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, json: [UInt8]?, close: Bool,
                         extraHeaders: [(String, String)] = []) {
        var headers = HTTPHeaders()
        if let json {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(json.count))
        } else if status != .noContent {
            headers.add(name: "Content-Length", value: "0")
        }
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if close {
            headers.add(name: "Connection", value: "close")
            closing = true
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                      promise: nil)
        if let json {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: json)))),
                          promise: nil)
        }
        if close {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            continueAfterAnswer(context: context)
        }
    }

    /// After an answer: the next pipelined request, or the idle timer (nothing while an operation is busy).
    private func continueAfterAnswer(context: ChannelHandlerContext) {
        guard !busy, !closing else { return }
        if !pending.isEmpty {
            let (nextHead, nextBody) = pending.removeFirst()
            handle(context: context, head: nextHead, body: nextBody)
        } else {
            armTimer(context: context)
        }
    }
}

/// Lets the early answer of one operation fire once.
private final class EarlyAnswerLatch: Sendable {
    private let fired = Atomic<Bool>(false)
    /// True the first time only.
    func fire() -> Bool { !fired.exchange(true, ordering: .relaxed) }
}
