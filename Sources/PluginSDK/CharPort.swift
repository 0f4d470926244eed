/// A char port (`VMH_IID_CHAR_PORT`) offered by the device or driver above: call it to deliver input bytes
/// towards the guest.
public struct CharPort: InterfaceHandle, @unchecked Sendable {
    /// `VMH_IID_CHAR_PORT`.
    public static var iid: InterfaceID { .charPort }

    /// The C interface struct.
    public let pointer: UnsafeMutablePointer<VMHCharPort>

    /// Wraps the struct; nil when `pointer` is nil.
    public init?(_ pointer: UnsafeMutableRawPointer?) {
        guard let pointer else { return nil }
        self.pointer = pointer.assumingMemoryBound(to: VMHCharPort.self)
    }

    /// Delivers `bytes`; returns the number accepted (>= 0) or a negative `VMH_ERR_*`.
    public func receive(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        guard let receive = pointer.pointee.receive else { return Int64(VMH_ERR_NOT_SUPPORTED) }
        return receive(pointer, bytes.baseAddress, bytes.count)
    }
}

/// A char port this plugin offers to the driver below it (input towards the guest). Create it with
/// ``DeviceContext/offerCharPort(lun:receive:)`` or ``DriverContext/offerCharPort(receive:)``; the SDK answers
/// `queryInterface` for it. Lifetime and cost as ``OfferedCharConnector``: the closure may capture the plugin.
public final class OfferedCharPort: OfferedInterface, @unchecked Sendable {
    /// What `receive` does: take bytes, return the number accepted or a negative `VMH_ERR_*`.
    public typealias Receive = (_ bytes: UnsafeRawBufferPointer) -> Int64

    /// `VMH_IID_CHAR_PORT`.
    public static var iid: InterfaceID { .charPort }

    /// The C struct handed to callers; its `context` is the handler box (unretained).
    public let pointer: UnsafeMutablePointer<VMHCharPort>

    /// The C struct as an untyped pointer (what `queryInterface` returns).
    public var rawPointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    /// The closure of one port.
    final class Handlers {
        let receive: Receive
        init(receive: @escaping Receive) { self.receive = receive }
    }

    /// A port calling `handlers`, which the caller (the instance's context) must keep alive until
    /// ``invalidate()``.
    init(handlers: Handlers) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: VMHCharPort(context: Unmanaged.passUnretained(handlers).toOpaque(),
                                           receive: charPortReceiveThunk))
    }

    /// Detaches the C struct from the closure (destruct); later calls answer `VMH_ERR_INVALID_PARAMETER`.
    public func invalidate() {
        pointer.pointee.context = nil
    }
}

private func charPortReceiveThunk(_ port: UnsafeMutablePointer<VMHCharPort>?, _ buf: UnsafeRawPointer?,
                                  _ size: Int) -> Int64 {
    guard let context = port?.pointee.context else { return Int64(VMH_ERR_INVALID_PARAMETER) }
    if size == 0 { return 0 }
    guard let buf else { return Int64(VMH_ERR_INVALID_PARAMETER) }
    return Unmanaged<OfferedCharPort.Handlers>.fromOpaque(context)._withUnsafeGuaranteedRef {
        $0.receive(UnsafeRawBufferPointer(start: buf, count: size))
    }
}
