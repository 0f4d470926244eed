// Block: the generic layer of a block chain, between a block device (e.g. VirtioBlk) and a medium driver (e.g.
// RawFile). Settings: `max-in-flight` (requests handed to the medium at once, default 64, 1...4096).
//
// It passes VMH_IID_BLOCK_CONNECTOR requests down and their completions up (VMH_IID_BLOCK_PORT), keeping the
// accounting: requests beyond `max-in-flight` wait in its own queue, and `inFlight` counts every request accepted
// and not yet completed *to the device* — a request stops counting only after the device's completion callback
// returned (i.e. after the guest was signalled). That is what the power walks wait for:
// - suspend: pending (async) until nothing is in flight; logs `waiting for <n> requests in flight`, then
//   `quiesced`;
// - power-off: the same, then a flush request down the chain; complete when the flush is (`flushed`).
// No acknowledged write is lost: a write is acknowledged only after the medium completed it, and power-off flushes.
import PluginSDK

/// The Block driver.
final class Block: DriverPlugin, @unchecked Sendable {
    static let name = "Block"
    static let description = "Block request queue with in-flight accounting; waits for I/O on suspend, flushes on power-off"
    static let maxInstances: UInt32 = 64

    private let context: DriverContext
    private let below: BlockConnector
    private let maxInFlight: Int
    private var connector: OfferedBlockConnector?
    private var port: OfferedBlockPort?
    private let lock = ConditionLock()
    // Guarded by `lock`:
    private var above: BlockPort?
    /// Accepted, not yet completed to the device.
    private var inFlight = 0
    /// Handed to the driver below, not yet completed.
    private var belowInFlight = 0
    private var waiting: [UnsafeMutablePointer<VMHBlockRequest>] = []
    private var waitingHead = 0
    private var quiesceCompletion: AsyncCompletion?
    private var flushAfterQuiesce = false
    /// The power-off flush (owned by this driver; never reaches the device).
    private let flushRequest: UnsafeMutablePointer<VMHBlockRequest>
    private var flushStatus = PluginStatus.ok
    private(set) var completedRequests: UInt64 = 0

    init(context: DriverContext, flags: UInt32) throws {
        self.context = context
        try context.config.validate(keys: ["max-in-flight"])
        maxInFlight = try context.config.integer("max-in-flight", as: Int.self, default: 64, in: 1...4096)
        flushRequest = .allocate(capacity: 1)
        flushRequest.initialize(to: VMHBlockRequest())
        guard try context.attachBelow() else {
            flushRequest.deallocate()
            throw PluginError(.noDriverAttached, "Block needs a medium driver below it (e.g. RawFile): configure `below`")
        }
        guard let below = context.queryBelow(BlockConnector.self) else {
            flushRequest.deallocate()
            throw PluginError(.notSupported, "the driver below offers no \(InterfaceID.blockConnector)")
        }
        self.below = below
        waiting.reserveCapacity(4096)
        let connector = OfferedBlockConnector(
            size: { [unowned self] in self.below.size },
            readOnly: { [unowned self] in self.below.isReadOnly },
            submit: { [unowned self] request in self.submit(request) },
            inFlight: { [unowned self] in self.lock.withLock { UInt32(self.inFlight) } })
        let port = OfferedBlockPort(complete: { [unowned self] request, status in self.completed(request, status) })
        context.offer(connector)
        context.offer(port)
        self.connector = connector
        self.port = port
    }

    func queryInterface(iid: InterfaceID) -> UnsafeMutableRawPointer? {
        connector?.answer(iid) ?? port?.answer(iid)
    }

    func initComplete() throws {
        guard let above = context.queryAbove(BlockPort.self) else {
            throw PluginError(.notSupported, "the device above offers no \(InterfaceID.blockPort)")
        }
        lock.withLock { self.above = above }
    }

    func suspend() -> PowerResult { quiesce(flush: false) }

    func powerOff() -> PowerResult { quiesce(flush: true) }

    func asyncOperationFinished(_ operation: PowerOperation) {
        let status = lock.withLock { flushStatus }
        if operation == .powerOff {
            context.log(status == .ok ? "flushed" : "flush failed (\(status))")
        } else {
            context.log("quiesced")
        }
    }

    func destruct() {
        flushRequest.deinitialize(count: 1)
        flushRequest.deallocate()
    }

    // MARK: Requests

    private func submit(_ request: UnsafeMutablePointer<VMHBlockRequest>) -> PluginStatus {
        let forward: Bool = lock.withLock {
            inFlight += 1
            if belowInFlight < maxInFlight {
                belowInFlight += 1
                return true
            }
            waiting.append(request)
            return false
        }
        guard forward else { return .ok }
        let status = below.submit(request)
        if status != .ok {
            lock.withLock {
                inFlight -= 1
                belowInFlight -= 1
            }
        }
        return status
    }

    /// A completion from below (the medium's I/O thread).
    private func completed(_ request: UnsafeMutablePointer<VMHBlockRequest>, _ status: PluginStatus) {
        if request == flushRequest {
            let completion: AsyncCompletion? = lock.withLock {
                flushStatus = status
                belowInFlight -= 1
                defer { quiesceCompletion = nil }
                return quiesceCompletion
            }
            completion?.complete()
            return
        }
        let above = lock.withLock { self.above }
        above?.complete(request, status: status)  // the guest is signalled before the request stops counting
        var next: UnsafeMutablePointer<VMHBlockRequest>?
        var finishQuiesce: AsyncCompletion?
        var startFlush = false
        lock.withLock {
            completedRequests += 1
            inFlight -= 1
            belowInFlight -= 1
            if waitingHead < waiting.count {
                next = waiting[waitingHead]
                waitingHead += 1
                if waitingHead == waiting.count {
                    waiting.removeAll(keepingCapacity: true)
                    waitingHead = 0
                }
                belowInFlight += 1
            }
            if inFlight == 0, let completion = quiesceCompletion {
                if flushAfterQuiesce {
                    flushAfterQuiesce = false
                    belowInFlight += 1
                    startFlush = true
                } else {
                    quiesceCompletion = nil
                    finishQuiesce = completion
                }
            }
        }
        if let next {
            let status = below.submit(next)
            if status != .ok { completed(next, status) }  // refused below: complete it to the device now
        }
        if startFlush { submitFlush() }
        finishQuiesce?.complete()
    }

    // MARK: Power

    private func quiesce(flush: Bool) -> PowerResult {
        enum Next { case done, wait(Int), flushNow }
        let next: Next = lock.withLock {
            if inFlight > 0 {
                quiesceCompletion = context.asyncCompletion()
                flushAfterQuiesce = flush
                return .wait(inFlight)
            }
            guard flush else { return .done }
            quiesceCompletion = context.asyncCompletion()
            belowInFlight += 1
            return .flushNow
        }
        switch next {
        case .done:
            return .done
        case .wait(let n):
            context.log("waiting for \(n) requests in flight")
            return .pending
        case .flushNow:
            context.log("flushing")
            submitFlush()
            return .pending
        }
    }

    private func submitFlush() {
        flushRequest.pointee = VMHBlockRequest()
        flushRequest.pointee.op = VMH_BLOCK_OP_FLUSH
        let status = below.submit(flushRequest)
        if status != .ok {
            let completion: AsyncCompletion? = lock.withLock {
                flushStatus = status
                belowInFlight -= 1
                defer { quiesceCompletion = nil }
                return quiesceCompletion
            }
            completion?.complete()
        }
    }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, drivers: [Block.self])
}
