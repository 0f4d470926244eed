import Foundation
import Synchronization
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

/// A device reading a ring index while a vCPU updates it must see the old or the new value, never a mix: the
/// writer flips a 16-bit field between 0x00FF and 0x0100 (both bytes change), the reader copies it through
/// `GuestMemory.read` and must only ever see those two values. With a byte-wise copy (glibc's 2-byte memcpy
/// loads the low byte, then the word) this sees hundreds of 0x01FF or 0x0000 in 100,000 reads on two cores
/// (on a single CPU the two threads never overlap and the test cannot tell).
@Suite struct GuestMemoryTearingTests {
    @Test func alignedSmallReadsAndWritesAreSingleAccesses() throws {
        let memory = try GuestMemory(size: 1 << 20)
        let gpa: UInt64 = 0x1000
        let field = try memory.pointer(to: UInt16.self, at: gpa)
        field.pointee = 0x00FF
        let stop = Atomic<Bool>(false)
        let flipper = Thread {
            var value: UInt16 = 0x00FF
            var source = value
            while !stop.load(ordering: .relaxed) {
                value = value == 0x00FF ? 0x0100 : 0x00FF
                source = value
                // Through GuestMemory.write too: the store side must not tear either.
                try? withUnsafeBytes(of: &source) { try memory.write(at: gpa, from: $0) }
            }
        }
        flipper.start()
        defer { stop.store(true, ordering: .relaxed) }
        var torn = 0
        var examples: Set<UInt16> = []
        let deadline = Date().addingTimeInterval(1.5)
        var reads = 0
        while Date() < deadline, torn == 0 {
            for _ in 0..<100_000 {
                var value: UInt16 = 0
                try withUnsafeMutableBytes(of: &value) { try memory.read(at: gpa, into: $0) }
                if value != 0x00FF, value != 0x0100 {
                    torn += 1
                    examples.insert(value)
                }
            }
            reads += 100_000
        }
        #expect(torn == 0, "\(torn) torn values (\(examples.map { "0x" + String($0, radix: 16) }.sorted())) in \(reads) reads")
    }

    @Test func misalignedOrOddSizedCopiesStillCopy() throws {
        let memory = try GuestMemory(size: 1 << 20)
        try memory.write([1, 2, 3, 4, 5, 6, 7, 8, 9], at: 0x2001)
        var three = [UInt8](repeating: 0, count: 3)
        try three.withUnsafeMutableBytes { try memory.read(at: 0x2001, into: $0) }
        #expect(three == [1, 2, 3])
        var two: UInt16 = 0
        try withUnsafeMutableBytes(of: &two) { try memory.read(at: 0x2001, into: $0) }  // misaligned: memcpy
        #expect(two == 0x0201)
        var eight: UInt64 = 0
        try withUnsafeMutableBytes(of: &eight) { try memory.read(at: 0x2001, into: $0) }
        #expect(eight == 0x0807_0605_0403_0201)
        var word: UInt32 = 0xAABB_CCDD
        try withUnsafeBytes(of: &word) { try memory.write(at: 0x2004, from: $0) }  // aligned: one store
        #expect(try memory.bytes(at: 0x2004, count: 4) == [0xDD, 0xCC, 0xBB, 0xAA])
    }
}
