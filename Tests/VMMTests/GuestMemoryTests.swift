import Testing
import VMM

/// Guest RAM layout, e820 map and bounds-checked access (pure logic over a real anonymous mapping).
@Suite struct GuestMemoryTests {
    @Test func layoutSplitsAtTheMMIOHole() {
        let small = GuestMemoryLayout(size: 64 << 20)
        #expect(small.regions.count == 1)
        #expect(small.regions[0].guestRange == 0..<(64 << 20))

        let big = GuestMemoryLayout(size: 4 << 30)
        #expect(big.regions.count == 2)
        #expect(big.regions[0].guestRange == 0..<0xC000_0000)
        #expect(big.regions[1].guestPhysicalAddress == 0x1_0000_0000)
        #expect(big.regions[1].size == (4 << 30) - 0xC000_0000)
        #expect(big.regions[1].hostOffset == 0xC000_0000)
        #expect(big.hostOffset(of: 0x1_0000_0010, count: 4) == 0xC000_0010)
        #expect(big.hostOffset(of: 0xBFFF_FFFE, count: 4) == nil)  // crosses into the hole
        #expect(big.hostOffset(of: 0xD000_0000, count: 1) == nil)
    }

    @Test func e820ReservesTheLegacyHole() {
        let map = GuestMemoryLayout(size: 4 << 30).e820Map
        #expect(map == [
            E820Entry(address: 0, size: 0xA_0000, type: .ram),
            E820Entry(address: 0xA_0000, size: 0x6_0000, type: .reserved),
            E820Entry(address: 0x10_0000, size: 0xC000_0000 - 0x10_0000, type: .ram),
            E820Entry(address: 0x1_0000_0000, size: (4 << 30) - 0xC000_0000, type: .ram),
        ])
        let total = map.filter { $0.type == .ram }.reduce(UInt64(0)) { $0 + $1.size }
        #expect(total == (4 << 30) - 0x6_0000)
    }

    @Test func boundsAreChecked() throws {
        let memory = try GuestMemory(size: 2 << 20)
        #expect(memory.size == 2 << 20)
        try memory.store(UInt32(0xdead_beef), at: 0x1000)
        #expect(try memory.load(UInt32.self, at: 0x1000) == 0xdead_beef)
        #expect(try memory.bytes(at: 0x1000, count: 4) == [0xef, 0xbe, 0xad, 0xde])
        try memory.write([1, 2, 3], at: (2 << 20) - 3)  // last three bytes
        #expect(try memory.bytes(at: (2 << 20) - 3, count: 3) == [1, 2, 3])

        #expect(throws: GuestMemoryError.outOfRange(address: (2 << 20) - 2, count: 4)) {
            try memory.store(UInt32(1), at: (2 << 20) - 2)
        }
        #expect(throws: GuestMemoryError.self) { _ = try memory.bytes(at: 2 << 20, count: 1) }
        #expect(throws: GuestMemoryError.self) { _ = try memory.pointer(at: UInt64.max - 1, count: 4) }
        #expect(throws: GuestMemoryError.misaligned(address: 0x1001, alignment: 8)) {
            _ = try memory.pointer(to: UInt64.self, at: 0x1001)
        }
        let counter = try memory.pointer(to: UInt64.self, at: 0x10000)
        counter.pointee = 42
        #expect(try memory.load(UInt64.self, at: 0x10000) == 42)
        #expect(throws: GuestMemoryError.invalidSize(4096)) { _ = try GuestMemory(size: 4096) }
    }
}
