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
/// `queryInterface` for it. The closure may capture the plugin: the SDK drops it at destruct.
public final class OfferedCharPort: OfferedInterface, @unchecked Sendable {
    /// What `receive` does: take bytes, return the number accepted or a negative `VMH_ERR_*`.
    public typealias Receive = (_ bytes: UnsafeRawBufferPointer) -> Int64

    /// `VMH_IID_CHAR_PORT`.
    public static var iid: InterfaceID { .charPort }

    /// The C struct handed to the caller; its `context` is this object (unretained).
    public let pointer: UnsafeMutablePointer<VMHCharPort>
    private var receiveHandler: Receive?

    /// The C struct as an untyped pointer (what `queryInterface` returns).
    public var rawPointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    init(receive: @escaping Receive) {
        receiveHandler = receive
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: VMHCharPort(context: nil, receive: charPortReceiveThunk))
        pointer.pointee.context = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    /// Drops the closure; later calls answer `VMH_ERR_WRONG_STATE`.
    public func invalidate() {
        receiveHandler = nil
    }

    fileprivate func receive(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        guard let receiveHandler else { return Int64(VMH_ERR_WRONG_STATE) }
        return receiveHandler(bytes)
    }
}

private func charPortReceiveThunk(_ port: UnsafeMutablePointer<VMHCharPort>?, _ buf: UnsafeRawPointer?,
                                  _ size: Int) -> Int64 {
    guard let context = port?.pointee.context else { return Int64(VMH_ERR_INVALID_PARAMETER) }
    if size == 0 { return 0 }
    guard let buf else { return Int64(VMH_ERR_INVALID_PARAMETER) }
    let object = Unmanaged<OfferedCharPort>.fromOpaque(context).takeUnretainedValue()
    return object.receive(UnsafeRawBufferPointer(start: buf, count: size))
}
