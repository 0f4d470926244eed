/// A registered guest MMIO range and its Swift handlers (see ``DeviceContext/registerMMIO(base:size:description:read:write:)``).
/// Values are little-endian integers of the access size. As with ``PortIORange``, the thunks borrow this object
/// from `user` without retaining it and the handlers are immutable: no allocation, no reference counting.
public final class MMIORange: @unchecked Sendable {
    /// Guest read of `size` (1...8) bytes at `offset` into the range; returns the value (low `size` bytes used).
    public typealias Read = (_ offset: UInt64, _ size: Int) -> UInt64
    /// Guest write of `size` (1...8) bytes of `value` at `offset` into the range.
    public typealias Write = (_ offset: UInt64, _ size: Int, _ value: UInt64) -> Void

    /// Guest-physical address of the range.
    public let base: UInt64
    /// Length of the range in bytes.
    public let size: UInt64
    private let read: Read
    private let write: Write

    init(base: UInt64, size: UInt64, read: Read?, write: Write?) {
        self.base = base
        self.size = size
        self.read = read ?? { _, _ in UInt64.max }
        self.write = write ?? { _, _, _ in }
    }

    @inline(__always)
    fileprivate func handleRead(offset: UInt64, size: Int) -> UInt64 {
        read(offset, size)
    }

    @inline(__always)
    fileprivate func handleWrite(offset: UInt64, size: Int, value: UInt64) {
        write(offset, size, value)
    }
}

/// The `VMHMmioRead` every SDK MMIO range registers.
func mmioRangeReadThunk(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ user: UnsafeMutableRawPointer?,
                        _ offset: UInt64, _ buf: UnsafeMutableRawPointer?, _ size: UInt32) -> Int32 {
    guard let user, let buf, size >= 1, size <= 8 else { return VMH_ERR_INVALID_PARAMETER }
    var value = Unmanaged<MMIORange>.fromOpaque(user)._withUnsafeGuaranteedRef {
        $0.handleRead(offset: offset, size: Int(size))
    }.littleEndian
    withUnsafeBytes(of: &value) { bytes in
        UnsafeMutableRawBufferPointer(start: buf, count: Int(size))
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(Int(size))))
    }
    return VMH_OK
}

/// The `VMHMmioWrite` every SDK MMIO range registers.
func mmioRangeWriteThunk(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ user: UnsafeMutableRawPointer?,
                         _ offset: UInt64, _ buf: UnsafeRawPointer?, _ size: UInt32) -> Int32 {
    guard let user, let buf, size >= 1, size <= 8 else { return VMH_ERR_INVALID_PARAMETER }
    var value: UInt64 = 0
    withUnsafeMutableBytes(of: &value) { bytes in
        bytes.copyMemory(from: UnsafeRawBufferPointer(start: buf, count: Int(size)))
    }
    Unmanaged<MMIORange>.fromOpaque(user)._withUnsafeGuaranteedRef {
        $0.handleWrite(offset: offset, size: Int(size), value: UInt64(littleEndian: value))
    }
    return VMH_OK
}
