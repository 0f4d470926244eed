import CVMHostABI
import Glibc
import KVM
import PDM
import Synchronization

/// Hands a vCPU's port-I/O and MMIO exits to the registered device handlers.
///
/// For each access it looks the range up in the frozen `IORangeTable` and calls the plugin's C function pointer
/// with the instance's `VMHDevIns*` and `user`, holding the device's instance lock unless the device is
/// THREAD_SAFE. Nothing else: no allocation, no other lock. Unclaimed port reads give all-ones, unclaimed MMIO reads
/// give all-ones bytes, and unclaimed writes are dropped; all of them are counted.
public final class ExitDispatcher: Sendable {
    /// The routing table (must be frozen before the first exit).
    public let table: IORangeTable
    private let unclaimedPortReadCount = Atomic<UInt64>(0)
    private let unclaimedPortWriteCount = Atomic<UInt64>(0)
    private let unclaimedMMIOReadCount = Atomic<UInt64>(0)
    private let unclaimedMMIOWriteCount = Atomic<UInt64>(0)
    private let handlerFailureCount = Atomic<UInt64>(0)

    public init(table: IORangeTable) { self.table = table }

    /// Port reads nobody claimed (answered with all-ones).
    public var unclaimedPortReads: UInt64 { unclaimedPortReadCount.load(ordering: .relaxed) }
    /// Port writes nobody claimed (dropped).
    public var unclaimedPortWrites: UInt64 { unclaimedPortWriteCount.load(ordering: .relaxed) }
    /// MMIO reads nobody claimed (answered with all-ones).
    public var unclaimedMMIOReads: UInt64 { unclaimedMMIOReadCount.load(ordering: .relaxed) }
    /// MMIO writes nobody claimed (dropped).
    public var unclaimedMMIOWrites: UInt64 { unclaimedMMIOWriteCount.load(ordering: .relaxed) }
    /// Handler calls that returned a status other than VMH_OK.
    public var handlerFailures: UInt64 { handlerFailureCount.load(ordering: .relaxed) }

    /// Handles a `KVM_EXIT_IO`: `count` accesses of `size` bytes packed at `data`.
    @inline(__always)
    public func dispatch(_ io: KVMIOExit) {
        let size = io.size
        var data = io.data
        let step = Int(size)
        guard let range = table.portRange(for: io.port) else {
            if io.direction == .in {
                memset(data, 0xff, step * Int(io.count))
                unclaimedPortReadCount.add(1, ordering: .relaxed)
            } else {
                unclaimedPortWriteCount.add(1, ordering: .relaxed)
            }
            return
        }
        let device = range.pointee.device
        let devIns = device.devIns
        let user = range.pointee.user
        if io.direction == .in {
            guard let input = range.pointee.input else {
                memset(data, 0xff, step * Int(io.count))
                unclaimedPortReadCount.add(1, ordering: .relaxed)
                return
            }
            for _ in 0..<io.count {
                var value: UInt32 = 0xffff_ffff
                let rc = device.withLock { input(devIns, user, io.port, size, &value) }
                if rc != VMH_OK { handlerFailureCount.add(1, ordering: .relaxed) }
                Self.store(value, size: size, at: data)
                data += step
            }
        } else {
            guard let output = range.pointee.output else {
                unclaimedPortWriteCount.add(1, ordering: .relaxed)
                return
            }
            // The boot timeline's "first serial byte": a write to COM1's data register (DEVICE-SPECS console).
            if io.port == 0x3f8 { BootTimeline.process.mark(.firstSerialByte) }
            for _ in 0..<io.count {
                let value = Self.load(size: size, at: data)
                let rc = device.withLock { output(devIns, user, io.port, size, value) }
                if rc != VMH_OK { handlerFailureCount.add(1, ordering: .relaxed) }
                data += step
            }
        }
    }

    /// Handles a `KVM_EXIT_MMIO`.
    @inline(__always)
    public func dispatch(_ mmio: KVMMMIOExit) {
        let length = min(mmio.length, 8)
        guard let range = table.mmioRange(containing: mmio.physicalAddress) else {
            if mmio.isWrite {
                unclaimedMMIOWriteCount.add(1, ordering: .relaxed)
            } else {
                memset(mmio.data, 0xff, Int(length))
                unclaimedMMIOReadCount.add(1, ordering: .relaxed)
            }
            return
        }
        let device = range.pointee.device
        let devIns = device.devIns
        let user = range.pointee.user
        let offset = mmio.physicalAddress &- range.pointee.base
        if mmio.isWrite {
            guard let write = range.pointee.write else {
                unclaimedMMIOWriteCount.add(1, ordering: .relaxed)
                return
            }
            let rc = device.withLock { write(devIns, user, offset, UnsafeRawPointer(mmio.data), length) }
            if rc != VMH_OK { handlerFailureCount.add(1, ordering: .relaxed) }
        } else {
            memset(mmio.data, 0xff, Int(length))
            guard let read = range.pointee.read else {
                unclaimedMMIOReadCount.add(1, ordering: .relaxed)
                return
            }
            let rc = device.withLock { read(devIns, user, offset, mmio.data, length) }
            if rc != VMH_OK { handlerFailureCount.add(1, ordering: .relaxed) }
        }
    }

    @inline(__always)
    static func load(size: UInt32, at p: UnsafeMutableRawPointer) -> UInt32 {
        switch size {
        case 1: return UInt32(p.load(as: UInt8.self))
        case 2: return UInt32(p.loadUnaligned(as: UInt16.self))
        default: return p.loadUnaligned(as: UInt32.self)
        }
    }

    @inline(__always)
    static func store(_ value: UInt32, size: UInt32, at p: UnsafeMutableRawPointer) {
        switch size {
        case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value), as: UInt16.self)
        default: p.storeBytes(of: value, as: UInt32.self)
        }
    }
}
