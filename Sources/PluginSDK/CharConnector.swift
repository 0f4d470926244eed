/// A char connector (`VMH_IID_CHAR_CONNECTOR`) offered by a driver below: call it to send bytes towards the host.
public struct CharConnector: InterfaceHandle, @unchecked Sendable {
    /// `VMH_IID_CHAR_CONNECTOR`.
    public static var iid: InterfaceID { .charConnector }

    /// The C interface struct.
    public let pointer: UnsafeMutablePointer<VMHCharConnector>

    /// Wraps the struct; nil when `pointer` is nil.
    public init?(_ pointer: UnsafeMutableRawPointer?) {
        guard let pointer else { return nil }
        self.pointer = pointer.assumingMemoryBound(to: VMHCharConnector.self)
    }

    /// Queues `bytes` for output; returns the number accepted (>= 0) or a negative `VMH_ERR_*`.
    @inline(__always)
    public func write(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        guard let write = pointer.pointee.write else { return Int64(VMH_ERR_NOT_SUPPORTED) }
        return write(pointer, bytes.baseAddress, bytes.count)
    }

    /// Queues one byte; returns 1, 0 (not accepted) or a negative `VMH_ERR_*`.
    @inline(__always)
    public func write(byte: UInt8) -> Int64 {
        var value = byte
        guard let write = pointer.pointee.write else { return Int64(VMH_ERR_NOT_SUPPORTED) }
        return write(pointer, &value, 1)
    }

    /// Pushes queued bytes towards the sink.
    @discardableResult
    public func flush() -> PluginStatus {
        guard let flush = pointer.pointee.flush else { return .notSupported }
        return PluginStatus(rawValue: flush(pointer))
    }
}

/// A char connector this plugin offers to the device or driver above it. Create it in `init` with
/// ``DriverContext/offerCharConnector(write:flush:)``; the SDK answers `queryInterface` for it.
///
/// The closures may capture the plugin: they live in a box that only the instance's context owns (this object
/// does not keep them alive) and that is released at destruct. The C struct is never freed; after destruct its
/// `context` is NULL and calls answer `VMH_ERR_INVALID_PARAMETER` instead of reaching freed memory. Calls borrow
/// the box without retaining it: no allocation, no reference counting.
public final class OfferedCharConnector: OfferedInterface, @unchecked Sendable {
    /// What `write` does: consume bytes, return the number accepted or a negative `VMH_ERR_*`.
    public typealias Write = (_ bytes: UnsafeRawBufferPointer) -> Int64
    /// What `flush` does: return `VMH_OK` when all queued bytes are out.
    public typealias Flush = () -> PluginStatus

    /// `VMH_IID_CHAR_CONNECTOR`.
    public static var iid: InterfaceID { .charConnector }

    /// The C struct handed to callers; its `context` is the handler box (unretained).
    public let pointer: UnsafeMutablePointer<VMHCharConnector>

    /// The C struct as an untyped pointer (what `queryInterface` returns).
    public var rawPointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    /// The closures of one connector.
    final class Handlers {
        let write: Write
        let flush: Flush
        init(write: @escaping Write, flush: @escaping Flush) {
            self.write = write
            self.flush = flush
        }
    }

    /// A connector calling `handlers`, which the caller (the instance's context) must keep alive until
    /// ``invalidate()``.
    init(handlers: Handlers) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: VMHCharConnector(context: Unmanaged.passUnretained(handlers).toOpaque(),
                                                write: charConnectorWriteThunk, flush: charConnectorFlushThunk))
    }

    /// Detaches the C struct from the closures (destruct); later calls answer `VMH_ERR_INVALID_PARAMETER`.
    public func invalidate() {
        pointer.pointee.context = nil
    }
}

private func charConnectorWriteThunk(
    _ connector: UnsafeMutablePointer<VMHCharConnector>?, _ buf: UnsafeRawPointer?, _ size: Int
) -> Int64 {
    guard let context = connector?.pointee.context else { return Int64(VMH_ERR_INVALID_PARAMETER) }
    if size == 0 { return 0 }
    guard let buf else { return Int64(VMH_ERR_INVALID_PARAMETER) }
    return Unmanaged<OfferedCharConnector.Handlers>.fromOpaque(context)._withUnsafeGuaranteedRef {
        $0.write(UnsafeRawBufferPointer(start: buf, count: size))
    }
}

private func charConnectorFlushThunk(_ connector: UnsafeMutablePointer<VMHCharConnector>?) -> Int32 {
    guard let context = connector?.pointee.context else { return VMH_ERR_INVALID_PARAMETER }
    return Unmanaged<OfferedCharConnector.Handlers>.fromOpaque(context)._withUnsafeGuaranteedRef {
        $0.flush().rawValue
    }
}
