import CKVM
import Glibc

/// Why a guest-memory operation failed.
public enum GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The configured size is zero or not representable.
    case invalidSize(UInt64)
    /// `mmap` of the guest RAM failed.
    case mapFailed(size: UInt64, errno: Int32)
    /// `[address, address + count)` is not entirely inside one RAM region.
    case outOfRange(address: UInt64, count: UInt64)
    /// A typed access at a misaligned address.
    case misaligned(address: UInt64, alignment: Int)

    public var description: String {
        switch self {
        case .invalidSize(let s):
            return "invalid guest memory size \(s) bytes (must be at least 1 MiB)"
        case .mapFailed(let size, let e):
            return "cannot map \(size) bytes of guest memory: \(String(cString: strerror(e)))"
        case .outOfRange(let a, let c):
            return "guest-physical range [0x\(String(a, radix: 16)), +0x\(String(c, radix: 16))) is outside guest RAM"
        case .misaligned(let a, let al):
            return "guest-physical address 0x\(String(a, radix: 16)) is not \(al)-byte aligned"
        }
    }
}

/// The guest's RAM: one anonymous host mapping laid out as `GuestMemoryLayout` describes, with bounds-checked
/// access by guest-physical address.
///
/// Reads and writes may race with running vCPUs (as on real hardware). A naturally aligned read or write of 1, 2,
/// 4 or 8 bytes is one load or store, acquire/release (`ckvm_guest_load`): a ring index the guest is updating is
/// seen either before or after, never torn. Longer copies have no such promise. The object itself is immutable
/// after `init` and safe to share.
public final class GuestMemory: @unchecked Sendable {
    /// Where the RAM sits in guest-physical space.
    public let layout: GuestMemoryLayout
    /// Start of the host mapping (region offsets are relative to it).
    public let hostBase: UnsafeMutableRawPointer

    /// Maps `size` bytes (rounded up to 4 KiB) of zeroed anonymous memory.
    public init(size: UInt64) throws(GuestMemoryError) {
        guard size >= 0x10_0000, size <= 1 << 46 else { throw .invalidSize(size) }
        let rounded = (size + 0xfff) & ~0xfff
        guard let p = mmap(nil, Int(rounded), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                           -1, 0), p != MAP_FAILED else {
            throw .mapFailed(size: rounded, errno: errno)
        }
        self.hostBase = p
        self.layout = GuestMemoryLayout(size: rounded)
    }

    deinit { munmap(hostBase, Int(layout.size)) }

    /// Total RAM bytes.
    public var size: UInt64 { layout.size }

    /// True when all of `[gpa, gpa + count)` is RAM.
    public func contains(_ gpa: UInt64, count: UInt64) -> Bool { layout.hostOffset(of: gpa, count: count) != nil }

    /// Host pointer to `count` bytes at `gpa`, all inside one RAM region.
    @inline(__always)
    public func pointer(at gpa: UInt64, count: UInt64) throws(GuestMemoryError) -> UnsafeMutableRawPointer {
        guard let offset = layout.hostOffset(of: gpa, count: count) else {
            throw .outOfRange(address: gpa, count: count)
        }
        return hostBase + Int(offset)
    }

    /// A typed host pointer to a `T` at `gpa` (naturally aligned), e.g. a status-page counter.
    public func pointer<T>(to type: T.Type, at gpa: UInt64) throws(GuestMemoryError) -> UnsafeMutablePointer<T> {
        guard gpa % UInt64(MemoryLayout<T>.alignment) == 0 else {
            throw .misaligned(address: gpa, alignment: MemoryLayout<T>.alignment)
        }
        return try pointer(at: gpa, count: UInt64(MemoryLayout<T>.size)).assumingMemoryBound(to: T.self)
    }

    /// Copies guest memory at `gpa` into `buffer`; one load when it is a naturally aligned 1, 2, 4 or 8 bytes.
    public func read(at gpa: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(GuestMemoryError) {
        guard let dst = buffer.baseAddress, buffer.count > 0 else { return }
        let src = try pointer(at: gpa, count: UInt64(buffer.count))
        if GuestMemory.isSingleAccess(gpa, buffer.count) {
            ckvm_guest_load(dst, src, buffer.count)
        } else {
            memcpy(dst, src, buffer.count)
        }
    }

    /// Copies `buffer` into guest memory at `gpa`; one store when it is a naturally aligned 1, 2, 4 or 8 bytes.
    public func write(at gpa: UInt64, from buffer: UnsafeRawBufferPointer) throws(GuestMemoryError) {
        guard let src = buffer.baseAddress, buffer.count > 0 else { return }
        let dst = try pointer(at: gpa, count: UInt64(buffer.count))
        if GuestMemory.isSingleAccess(gpa, buffer.count) {
            ckvm_guest_store(dst, src, buffer.count)
        } else {
            memcpy(dst, src, buffer.count)
        }
    }

    /// A 1-, 2-, 4- or 8-byte access at a multiple of its size (the host mapping is page aligned, so the host
    /// address is aligned too).
    @inline(__always)
    static func isSingleAccess(_ gpa: UInt64, _ count: Int) -> Bool {
        count <= 8 && count & (count - 1) == 0 && gpa & UInt64(count - 1) == 0
    }

    /// `count` bytes at `gpa`.
    public func bytes(at gpa: UInt64, count: Int) throws(GuestMemoryError) -> [UInt8] {
        let src = try pointer(at: gpa, count: UInt64(count))
        return Array(UnsafeRawBufferPointer(start: src, count: count))
    }

    /// Writes `bytes` at `gpa`.
    public func write<C: Collection>(_ bytes: C, at gpa: UInt64) throws(GuestMemoryError) where C.Element == UInt8 {
        let dst = try pointer(at: gpa, count: UInt64(bytes.count))
        var i = 0
        for b in bytes {
            dst.storeBytes(of: b, toByteOffset: i, as: UInt8.self)
            i += 1
        }
    }

    /// Zeroes `count` bytes at `gpa`.
    public func zero(at gpa: UInt64, count: UInt64) throws(GuestMemoryError) {
        let dst = try pointer(at: gpa, count: count)
        memset(dst, 0, Int(count))
    }

    /// Loads a little-endian integer at `gpa` (any alignment).
    public func load<T: FixedWidthInteger>(_ type: T.Type, at gpa: UInt64) throws(GuestMemoryError) -> T {
        let src = try pointer(at: gpa, count: UInt64(MemoryLayout<T>.size))
        return T(littleEndian: src.loadUnaligned(as: T.self))
    }

    /// Stores a little-endian integer at `gpa` (any alignment).
    public func store<T: FixedWidthInteger>(_ value: T, at gpa: UInt64) throws(GuestMemoryError) {
        let dst = try pointer(at: gpa, count: UInt64(MemoryLayout<T>.size))
        dst.storeBytes(of: value.littleEndian, as: T.self)
    }

    /// A NUL-terminated string at `gpa` of at most `maxLength` bytes (nil when outside RAM).
    public func cString(at gpa: UInt64, maxLength: Int) -> String? {
        guard let bytes = try? self.bytes(at: gpa, count: maxLength) else { return nil }
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
