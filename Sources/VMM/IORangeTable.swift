import CVMHostABI
import PDM
import Synchronization

/// A registered port range: the plugin's C handlers and what to call them with.
public struct PortIORange: @unchecked Sendable {
    /// First port.
    public let base: UInt16
    /// Number of ports.
    public let count: UInt16
    /// The device instance that registered it (owner name, lock).
    public let device: DeviceInstance
    public let user: UnsafeMutableRawPointer?
    public let input: VMHIoPortIn?
    public let output: VMHIoPortOut?
    public let description: String

    var label: String { "[0x\(String(base, radix: 16))-0x\(String(UInt32(base) &+ UInt32(count) &- 1, radix: 16))] (\(description))" }
}

/// A registered MMIO range.
public struct MMIORange: @unchecked Sendable {
    /// First guest-physical address.
    public let base: UInt64
    /// Bytes.
    public let size: UInt64
    public let device: DeviceInstance
    public let user: UnsafeMutableRawPointer?
    public let read: VMHMmioRead?
    public let write: VMHMmioWrite?
    public let description: String

    var label: String { "[0x\(String(base, radix: 16))-0x\(String(base &+ size &- 1, radix: 16))] (\(description))" }
}

/// Routing of guest port I/O and MMIO to device handlers.
///
/// Port I/O: a flat 64 Ki-entry index from port to range slot. MMIO: ranges sorted by base, found by binary search.
/// Registration (during device construct, single-threaded) checks overlaps; `freeze()` (before the first
/// `KVM_RUN`) copies everything into fixed buffers the EMTs then read without any lock.
public final class IORangeTable: @unchecked Sendable {
    /// Slot index per port: 0 = unclaimed, n = `portRanges[n - 1]`.
    private let portIndex: UnsafeMutablePointer<UInt16>
    private var portRanges: [PortIORange] = []
    private var mmioRanges: [MMIORange] = []
    private let frozenFlag = Atomic<Bool>(false)

    // Frozen copies read by the hot path.
    private var frozenPorts: UnsafeMutableBufferPointer<PortIORange> = .init(start: nil, count: 0)
    private var frozenMMIO: UnsafeMutableBufferPointer<MMIORange> = .init(start: nil, count: 0)

    public init() {
        portIndex = .allocate(capacity: 0x1_0000)
        portIndex.initialize(repeating: 0, count: 0x1_0000)
    }

    deinit {
        portIndex.deallocate()
        if let base = frozenPorts.baseAddress {
            base.deinitialize(count: frozenPorts.count)
            base.deallocate()
        }
        if let base = frozenMMIO.baseAddress {
            base.deinitialize(count: frozenMMIO.count)
            base.deallocate()
        }
    }

    /// True once `freeze()` ran.
    public var isFrozen: Bool { frozenFlag.load(ordering: .acquiring) }

    /// Registered port ranges, in registration order.
    public var registeredPorts: [PortIORange] { portRanges }
    /// Registered MMIO ranges, sorted by base.
    public var registeredMMIO: [MMIORange] { mmioRanges }

    /// Routes ports `[base, base + count)` to `device`'s handlers.
    public func registerPorts(_ range: PortIORange) throws(IORangeError) {
        let end = UInt32(range.base) + UInt32(range.count)
        guard range.count > 0, end <= 0x1_0000 else {
            throw .invalidRange(space: "port", range: range.label, owner: range.device.name)
        }
        guard !isFrozen else { throw .frozen(space: "port", range: range.label, owner: range.device.name) }
        for port in UInt32(range.base)..<end where portIndex[Int(port)] != 0 {
            let other = portRanges[Int(portIndex[Int(port)]) - 1]
            throw .conflict(space: "port", requested: range.label, requestedOwner: range.device.name,
                            existing: other.label, existingOwner: other.device.name)
        }
        // Slots are UInt16 and 0 means unclaimed: 65 535 ranges at most (65 536 one-port ranges would trap).
        guard portRanges.count < Int(UInt16.max) else {
            throw .invalidRange(space: "port", range: range.label, owner: range.device.name)
        }
        portRanges.append(range)
        let slot = UInt16(portRanges.count)
        for port in UInt32(range.base)..<end { portIndex[Int(port)] = slot }
    }

    /// Routes guest-physical `[base, base + size)` to `device`'s MMIO handlers.
    public func registerMMIO(_ range: MMIORange) throws(IORangeError) {
        let (_, overflow) = range.base.addingReportingOverflow(range.size)
        guard range.size > 0, !overflow else {
            throw .invalidRange(space: "MMIO", range: range.label, owner: range.device.name)
        }
        guard !isFrozen else { throw .frozen(space: "MMIO", range: range.label, owner: range.device.name) }
        if let other = mmioRanges.first(where: { $0.base < range.base + range.size && range.base < $0.base + $0.size }) {
            throw .conflict(space: "MMIO", requested: range.label, requestedOwner: range.device.name,
                            existing: other.label, existingOwner: other.device.name)
        }
        let at = mmioRanges.firstIndex { $0.base > range.base } ?? mmioRanges.count
        mmioRanges.insert(range, at: at)
    }

    /// Ends registration and publishes the ranges to the hot path. Idempotent.
    public func freeze() {
        guard !isFrozen else { return }
        let ports = UnsafeMutableBufferPointer<PortIORange>.allocate(capacity: max(portRanges.count, 1))
        _ = ports.initialize(from: portRanges)
        frozenPorts = UnsafeMutableBufferPointer(start: ports.baseAddress, count: portRanges.count)
        let mmio = UnsafeMutableBufferPointer<MMIORange>.allocate(capacity: max(mmioRanges.count, 1))
        _ = mmio.initialize(from: mmioRanges)
        frozenMMIO = UnsafeMutableBufferPointer(start: mmio.baseAddress, count: mmioRanges.count)
        frozenFlag.store(true, ordering: .releasing)
    }

    /// The range claiming `port` (hot path; valid only after `freeze()`).
    @inline(__always)
    public func portRange(for port: UInt16) -> UnsafeMutablePointer<PortIORange>? {
        let slot = Int(portIndex[Int(port)])
        guard slot != 0, slot <= frozenPorts.count, let base = frozenPorts.baseAddress else { return nil }
        return base + (slot - 1)
    }

    /// The range containing `gpa` (hot path; valid only after `freeze()`): binary search over sorted bases.
    @inline(__always)
    public func mmioRange(containing gpa: UInt64) -> UnsafeMutablePointer<MMIORange>? {
        guard let base = frozenMMIO.baseAddress else { return nil }
        var low = 0
        var high = frozenMMIO.count
        while low < high {  // first range whose base is > gpa
            let mid = (low &+ high) >> 1
            if base[mid].base <= gpa { low = mid &+ 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let r = base + (low - 1)
        return gpa &- r.pointee.base < r.pointee.size ? r : nil
    }

    /// The owner of `port` before or after freezing (for messages and tests).
    public func owner(ofPort port: UInt16) -> PortIORange? {
        let slot = Int(portIndex[Int(port)])
        return slot == 0 ? nil : portRanges[slot - 1]
    }
}
