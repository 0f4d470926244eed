/// The block interfaces of `vmhost_plugin.h`: requests go down through a ``BlockConnector`` and complete up
/// through the submitter's ``BlockPort``.
extension InterfaceID {
    /// `VMH_IID_BLOCK_CONNECTOR`: block requests towards the medium (``BlockConnector``).
    public static let blockConnector = InterfaceID(VMH_IID_BLOCK_CONNECTOR)
    /// `VMH_IID_BLOCK_PORT`: completions towards the device (``BlockPort``).
    public static let blockPort = InterfaceID(VMH_IID_BLOCK_PORT)
}

/// A block connector offered by the driver below: submit requests to it.
public struct BlockConnector: InterfaceHandle, @unchecked Sendable {
    /// `VMH_IID_BLOCK_CONNECTOR`.
    public static var iid: InterfaceID { .blockConnector }

    /// The C interface struct.
    public let pointer: UnsafeMutablePointer<VMHBlockConnector>

    /// Wraps the struct; nil when `pointer` is nil.
    public init?(_ pointer: UnsafeMutableRawPointer?) {
        guard let pointer else { return nil }
        self.pointer = pointer.assumingMemoryBound(to: VMHBlockConnector.self)
    }

    /// Medium size in bytes.
    public var size: UInt64 { pointer.pointee.size?(pointer) ?? 0 }
    /// True when writes are refused.
    public var isReadOnly: Bool { pointer.pointee.isReadOnly?(pointer) ?? true }
    /// Requests accepted and not completed yet.
    public var inFlight: UInt32 { pointer.pointee.inFlight?(pointer) ?? 0 }

    /// Queues `request`: ``PluginStatus/ok`` means it will complete later (never inside this call) through the
    /// submitter's block port; anything else means refused now.
    @inline(__always)
    public func submit(_ request: UnsafeMutablePointer<VMHBlockRequest>) -> PluginStatus {
        guard let submit = pointer.pointee.submit else { return .notSupported }
        return PluginStatus(rawValue: submit(pointer, request))
    }
}

/// A block connector this driver offers to the device or driver above. Create it in `init`, keep it alive with
/// `context.retain(connector)`, and return `connector.answer(iid)` from `queryInterface`.
public final class OfferedBlockConnector: OfferedInterface, @unchecked Sendable {
    /// What `submit` does: take the request (owned by the submitter until completed) and return `VMH_OK` once
    /// it is queued, or the error that refuses it.
    public typealias Submit = (_ request: UnsafeMutablePointer<VMHBlockRequest>) -> PluginStatus

    /// `VMH_IID_BLOCK_CONNECTOR`.
    public static var iid: InterfaceID { .blockConnector }

    /// The C struct; its `context` is this object (unretained).
    public let pointer: UnsafeMutablePointer<VMHBlockConnector>
    private var sizeHandler: (() -> UInt64)?
    private var readOnlyHandler: (() -> Bool)?
    private var submitHandler: Submit?
    private var inFlightHandler: (() -> UInt32)?

    /// The C struct as an untyped pointer.
    public var rawPointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    /// A connector answering `size` (bytes), `readOnly` and `inFlight` (requests submitted, not yet completed)
    /// with the closures, and queueing requests with `submit`.
    public init(size: @escaping () -> UInt64, readOnly: @escaping () -> Bool, submit: @escaping Submit,
                inFlight: @escaping () -> UInt32) {
        sizeHandler = size
        readOnlyHandler = readOnly
        submitHandler = submit
        inFlightHandler = inFlight
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: VMHBlockConnector(
            context: nil,
            size: { connector in
                guard let object = OfferedBlockConnector.object(connector) else { return 0 }
                return object.sizeHandler?() ?? 0
            },
            isReadOnly: { connector in
                guard let object = OfferedBlockConnector.object(connector) else { return true }
                return object.readOnlyHandler?() ?? true
            },
            submit: { connector, request in
                guard let object = OfferedBlockConnector.object(connector), let request else {
                    return VMH_ERR_INVALID_PARAMETER
                }
                return object.submitHandler?(request).rawValue ?? VMH_ERR_WRONG_STATE
            },
            inFlight: { connector in
                guard let object = OfferedBlockConnector.object(connector) else { return 0 }
                return object.inFlightHandler?() ?? 0
            }))
        pointer.pointee.context = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    private static func object(_ connector: UnsafeMutablePointer<VMHBlockConnector>?) -> OfferedBlockConnector? {
        guard let context = connector?.pointee.context else { return nil }
        return Unmanaged<OfferedBlockConnector>.fromOpaque(context).takeUnretainedValue()
    }

    /// Drops the closures; later calls fail with `VMH_ERR_WRONG_STATE`.
    public func invalidate() {
        sizeHandler = nil
        readOnlyHandler = nil
        submitHandler = nil
        inFlightHandler = nil
    }
}

/// A block port offered by the device or driver above: report completions to it.
public struct BlockPort: InterfaceHandle, @unchecked Sendable {
    /// `VMH_IID_BLOCK_PORT`.
    public static var iid: InterfaceID { .blockPort }

    /// The C interface struct.
    public let pointer: UnsafeMutablePointer<VMHBlockPort>

    /// Wraps the struct; nil when `pointer` is nil.
    public init?(_ pointer: UnsafeMutableRawPointer?) {
        guard let pointer else { return nil }
        self.pointer = pointer.assumingMemoryBound(to: VMHBlockPort.self)
    }

    /// Reports that `request` finished with `status`.
    @inline(__always)
    public func complete(_ request: UnsafeMutablePointer<VMHBlockRequest>, status: PluginStatus) {
        pointer.pointee.complete?(pointer, request, status.rawValue)
    }
}

/// A block port this device or driver offers to the driver below. Create it in `init`, keep it alive with
/// `context.retain(port)`, and return `port.answer(iid)` from `queryInterface`.
public final class OfferedBlockPort: OfferedInterface, @unchecked Sendable {
    /// What `complete` does: take back a request submitted earlier, finished with `status`.
    public typealias Complete = (_ request: UnsafeMutablePointer<VMHBlockRequest>, _ status: PluginStatus) -> Void

    /// `VMH_IID_BLOCK_PORT`.
    public static var iid: InterfaceID { .blockPort }

    /// The C struct; its `context` is this object (unretained).
    public let pointer: UnsafeMutablePointer<VMHBlockPort>
    private var completeHandler: Complete?

    /// The C struct as an untyped pointer.
    public var rawPointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    /// A port that hands every completion to `complete` (any thread: usually the bottom driver's I/O thread).
    public init(complete: @escaping Complete) {
        completeHandler = complete
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: VMHBlockPort(context: nil, complete: { port, request, status in
            guard let context = port?.pointee.context, let request else { return }
            Unmanaged<OfferedBlockPort>.fromOpaque(context).takeUnretainedValue()
                .completeHandler?(request, PluginStatus(rawValue: status))
        }))
        pointer.pointee.context = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    /// Drops the closure; later completions are ignored.
    public func invalidate() {
        completeHandler = nil
    }
}
