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
/// ``DriverContext/offerCharConnector(write:flush:)``; the SDK answers `queryInterface` for it. The closures may capture the plugin: the SDK drops them at destruct.
public final class OfferedCharConnector: OfferedInterface, @unchecked Sendable {
    /// What `write` does: consume bytes, return the number accepted or a negative `VMH_ERR_*`.
    public typealias Write = (_ bytes: UnsafeRawBufferPointer) -> Int64
    /// What `flush` does: return `VMH_OK` when all queued bytes are out.
    public typealias Flush = () -> PluginStatus

    /// `VMH_IID_CHAR_CONNECTOR`.
    public static var iid: InterfaceID { .charConnector }

    /// The C struct handed to the caller; its `context` is this object (unretained).
    public let pointer: UnsafeMutablePointer<VMHCharConnector>
    private var writeHandler: Write?
    private var flushHandler: Flush?

    /// The C struct as an untyped pointer (what `queryInterface` returns).
    public var rawPointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    init(write: @escaping Write, flush: @escaping Flush) {
        writeHandler = write
        flushHandler = flush
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: VMHCharConnector(context: nil, write: charConnectorWriteThunk,
                                                flush: charConnectorFlushThunk))
        pointer.pointee.context = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    /// Drops the closures; later calls answer `VMH_ERR_WRONG_STATE`.
    public func invalidate() {
        writeHandler = nil
        flushHandler = nil
    }

    fileprivate func write(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        guard let writeHandler else { return Int64(VMH_ERR_WRONG_STATE) }
        return writeHandler(bytes)
    }

    fileprivate func flush() -> Int32 {
        guard let flushHandler else { return VMH_ERR_WRONG_STATE }
        return flushHandler().rawValue
    }
}

private func charConnectorWriteThunk(
    _ connector: UnsafeMutablePointer<VMHCharConnector>?, _ buf: UnsafeRawPointer?, _ size: Int
) -> Int64 {
    guard let context = connector?.pointee.context else { return Int64(VMH_ERR_INVALID_PARAMETER) }
    if size == 0 { return 0 }
    guard let buf else { return Int64(VMH_ERR_INVALID_PARAMETER) }
    let object = Unmanaged<OfferedCharConnector>.fromOpaque(context).takeUnretainedValue()
    return object.write(UnsafeRawBufferPointer(start: buf, count: size))
}

private func charConnectorFlushThunk(_ connector: UnsafeMutablePointer<VMHCharConnector>?) -> Int32 {
    guard let context = connector?.pointee.context else { return VMH_ERR_INVALID_PARAMETER }
    return Unmanaged<OfferedCharConnector>.fromOpaque(context).takeUnretainedValue().flush()
}
