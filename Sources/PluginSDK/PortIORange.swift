/// A registered guest port-I/O range and its Swift handlers (see ``DeviceContext/registerPorts(base:count:description:read:write:)``).
/// The host calls static `@convention(c)` thunks that recover this object from the registration's `user` pointer
/// without retaining it, and the handlers are immutable, so a guest access costs no allocation and no reference
/// counting. The instance's context is its only owner and drops it at destruct.
public final class PortIORange: @unchecked Sendable {
    /// Guest read of `size` (1, 2 or 4) bytes at `offset` from the range's first port; returns the value.
    public typealias Read = (_ offset: UInt16, _ size: Int) -> UInt32
    /// Guest write of `size` (1, 2 or 4) bytes of `value` at `offset` from the range's first port.
    public typealias Write = (_ offset: UInt16, _ size: Int, _ value: UInt32) -> Void

    /// First port of the range.
    public let base: UInt16
    /// Number of ports.
    public let count: UInt16
    private let read: Read
    private let write: Write

    init(base: UInt16, count: UInt16, read: Read?, write: Write?) {
        self.base = base
        self.count = count
        self.read = read ?? { _, _ in UInt32.max }
        self.write = write ?? { _, _, _ in }
    }

    @inline(__always)
    fileprivate func handleRead(port: UInt16, size: UInt32) -> UInt32 {
        read(port &- base, Int(size))
    }

    @inline(__always)
    fileprivate func handleWrite(port: UInt16, size: UInt32, value: UInt32) {
        write(port &- base, Int(size), value)
    }
}

/// The `VMHIoPortIn` every SDK port range registers.
func portIORangeReadThunk(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ user: UnsafeMutableRawPointer?,
                          _ port: UInt16, _ size: UInt32, _ value: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let user, let value else { return VMH_ERR_INVALID_PARAMETER }
    value.pointee = Unmanaged<PortIORange>.fromOpaque(user)._withUnsafeGuaranteedRef {
        $0.handleRead(port: port, size: size)
    }
    return VMH_OK
}

/// The `VMHIoPortOut` every SDK port range registers.
func portIORangeWriteThunk(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ user: UnsafeMutableRawPointer?,
                           _ port: UInt16, _ size: UInt32, _ value: UInt32) -> Int32 {
    guard let user else { return VMH_ERR_INVALID_PARAMETER }
    Unmanaged<PortIORange>.fromOpaque(user)._withUnsafeGuaranteedRef {
        $0.handleWrite(port: port, size: size, value: value)
    }
    return VMH_OK
}
