import PluginSDK

/// The host side of one virtio-blk request, reused for every request whose descriptor chain starts at the same
/// head index (a head cannot be reused by the guest while its request is in flight). Holds the block request
/// handed to the chain below, the bounce buffer its data goes through, and where the result goes in the guest.
final class RequestSlot: @unchecked Sendable {
    /// The request handed to the block chain; `user` points back to this slot.
    let request: UnsafeMutablePointer<VMHBlockRequest>
    /// Bounce buffer (grown on demand, kept for reuse).
    private(set) var buffer: UnsafeMutableRawPointer?
    private(set) var capacity = 0
    /// Data descriptors of the request, in chain order.
    var segments: [VirtqDescriptor] = []
    var head: UInt16 = 0
    var type: UInt32 = 0
    /// Guest-physical address of the status byte.
    var statusAddress: UInt64 = 0
    /// Device reset generation the request belongs to (a completion after a reset is dropped).
    var generation: UInt64 = 0
    var busy = false

    init(maxSegments: Int) {
        request = .allocate(capacity: 1)
        request.initialize(to: VMHBlockRequest())
        segments.reserveCapacity(maxSegments)
    }

    deinit {
        request.deinitialize(count: 1)
        request.deallocate()
        buffer?.deallocate()
    }

    /// A buffer of at least `bytes` (allocates only when it must grow).
    func ensureBuffer(_ bytes: Int) -> UnsafeMutableRawPointer? {
        if bytes <= capacity, let buffer { return buffer }
        buffer?.deallocate()
        let rounded = (max(bytes, 4096) + 65535) & ~65535
        buffer = .allocate(byteCount: rounded, alignment: 4096)
        capacity = rounded
        return buffer
    }

    /// Total bytes of the data descriptors.
    var dataLength: UInt64 { segments.reduce(0) { $0 + UInt64($1.length) } }
}
