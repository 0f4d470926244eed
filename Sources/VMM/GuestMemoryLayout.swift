/// The guest-physical layout of a PC-style machine with `size` bytes of RAM: RAM from 0 up to the MMIO hole at
/// 3 GiB (`lowRAMLimit`), the rest from 4 GiB up. The hole [3 GiB, 4 GiB) holds device MMIO (e.g. the scratchpad
/// at 0xd0000000), the IOAPIC, the local APICs and KVM's TSS / identity-map pages.
public struct GuestMemoryLayout: Sendable, Equatable {
    /// RAM above this guest-physical address is moved above 4 GiB.
    public static let lowRAMLimit: UInt64 = 0xC000_0000
    /// Where RAM resumes above the hole.
    public static let highRAMBase: UInt64 = 0x1_0000_0000
    /// The legacy VGA / option ROM / BIOS window [0xA0000, 0x100000), reported reserved in the e820 map.
    public static let legacyHole: Range<UInt64> = 0xA_0000..<0x10_0000

    /// One contiguous piece of guest RAM and where it sits in the host mapping.
    public struct Region: Sendable, Equatable {
        /// First guest-physical address.
        public let guestPhysicalAddress: UInt64
        /// Bytes.
        public let size: UInt64
        /// Offset of the region's first byte in the host mapping of all guest RAM.
        public let hostOffset: UInt64

        public var guestRange: Range<UInt64> { guestPhysicalAddress..<(guestPhysicalAddress + size) }
    }

    /// Total RAM bytes.
    public let size: UInt64
    /// One region below the hole, and one above 4 GiB when `size` exceeds `lowRAMLimit`.
    public let regions: [Region]

    /// The layout for `size` bytes of RAM (rounded up to 4 KiB by the caller, see `GuestMemory`).
    public init(size: UInt64) {
        self.size = size
        let low = min(size, Self.lowRAMLimit)
        var regions = [Region(guestPhysicalAddress: 0, size: low, hostOffset: 0)]
        if size > low {
            regions.append(Region(guestPhysicalAddress: Self.highRAMBase, size: size - low, hostOffset: low))
        }
        self.regions = regions
    }

    /// The host-mapping offset of `count` bytes at `gpa`, or nil unless all of them lie in one RAM region.
    @inline(__always)
    public func hostOffset(of gpa: UInt64, count: UInt64) -> UInt64? {
        for r in regions where gpa >= r.guestPhysicalAddress {
            let offset = gpa - r.guestPhysicalAddress
            if offset <= r.size && count <= r.size - offset { return r.hostOffset + offset }
        }
        return nil
    }

    /// The e820 map the guest gets: RAM below 640 KiB, the legacy hole reserved, RAM from 1 MiB to the MMIO
    /// hole, RAM above 4 GiB.
    public var e820Map: [E820Entry] {
        var map: [E820Entry] = []
        let low = regions[0].size
        map.append(E820Entry(address: 0, size: min(low, Self.legacyHole.lowerBound), type: .ram))
        if low > Self.legacyHole.lowerBound {
            let reservedEnd = min(low, Self.legacyHole.upperBound)
            map.append(E820Entry(address: Self.legacyHole.lowerBound,
                                 size: reservedEnd - Self.legacyHole.lowerBound, type: .reserved))
        }
        if low > Self.legacyHole.upperBound {
            map.append(E820Entry(address: Self.legacyHole.upperBound, size: low - Self.legacyHole.upperBound,
                                 type: .ram))
        }
        for r in regions.dropFirst() { map.append(E820Entry(address: r.guestPhysicalAddress, size: r.size, type: .ram)) }
        return map
    }
}

/// One entry of the e820-style memory map handed to the guest (PVH `hvm_memmap_table_entry`).
public struct E820Entry: Sendable, Equatable, CustomStringConvertible {
    /// Memory type as the e820 / PVH memmap numbers it.
    public enum Kind: UInt32, Sendable {
        case ram = 1, reserved = 2, acpiReclaimable = 3, acpiNVS = 4, unusable = 5
    }

    public let address: UInt64
    public let size: UInt64
    public let type: Kind

    public init(address: UInt64, size: UInt64, type: Kind) {
        self.address = address
        self.size = size
        self.type = type
    }

    public var description: String {
        "[0x\(String(address, radix: 16))-0x\(String(address + size - 1, radix: 16))] \(type)"
    }
}
