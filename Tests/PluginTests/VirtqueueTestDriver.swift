import CVMHostABI
import Glibc
import PluginTestKit

/// The guest side of a virtio-blk device for plugin tests: negotiates features through the MMIO registers and
/// builds descriptor chains in the RecordingVMM's guest RAM, as a guest driver would.
///
/// Guest RAM layout: descriptor table 0x10000, available ring 0x11000, used ring 0x12000, request headers from
/// 0x20000 (16 bytes per head), status bytes from 0x28000 (one per head), data buffers from 0x100000.
struct VirtqueueTestDriver {
    let h: PluginTestHarness
    let base: UInt64
    let queueSize: UInt16
    static let descriptorTable: UInt64 = 0x10000
    static let availRing: UInt64 = 0x11000
    static let usedRing: UInt64 = 0x12000
    static let headers: UInt64 = 0x20000
    static let statuses: UInt64 = 0x28000
    static let data: UInt64 = 0x100000

    private(set) var availIndex: UInt16 = 0
    private(set) var usedSeen: UInt16 = 0

    struct Segment {
        var address: UInt64
        var length: UInt32
        var writable: Bool
    }

    init(_ h: PluginTestHarness, base: UInt64 = 0xd000_1000, queueSize: UInt16 = 16) {
        self.h = h
        self.base = base
        self.queueSize = queueSize
    }

    func reg(_ offset: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: h.mmioRead(base + offset, size: 4).value) }
    func setReg(_ offset: UInt64, _ value: UInt32) { h.mmioWrite(base + offset, size: 4, value: UInt64(value)) }

    /// Reset, ACKNOWLEDGE, DRIVER, feature negotiation (`features`; default VERSION_1 | FLUSH), FEATURES_OK, queue 0
    /// set-up, DRIVER_OK. Returns the status read back after FEATURES_OK.
    @discardableResult
    mutating func initialize(features: UInt64 = (1 << 32) | (1 << 9)) -> UInt32 {
        setReg(0x70, 0)
        setReg(0x70, 1)
        setReg(0x70, 1 | 2)
        setReg(0x24, 0)
        setReg(0x20, UInt32(truncatingIfNeeded: features))
        setReg(0x24, 1)
        setReg(0x20, UInt32(truncatingIfNeeded: features >> 32))
        setReg(0x70, 1 | 2 | 8)
        let status = reg(0x70)
        guard status & 8 != 0 else { return status }
        setReg(0x30, 0)
        setReg(0x38, UInt32(queueSize))
        setReg(0x80, UInt32(Self.descriptorTable))
        setReg(0x84, 0)
        setReg(0x90, UInt32(Self.availRing))
        setReg(0x94, 0)
        setReg(0xa0, UInt32(Self.usedRing))
        setReg(0xa4, 0)
        setReg(0x44, 1)
        setReg(0x70, 1 | 2 | 8 | 4)
        availIndex = 0
        usedSeen = 0
        return status
    }

    /// Writes descriptor `index`.
    func setDescriptor(_ index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        var bytes: [UInt8] = []
        bytes += le(address, 8) + le(UInt64(length), 4) + le(UInt64(flags), 2) + le(UInt64(next), 2)
        h.vmm.setGuestRAM(Int(Self.descriptorTable) + 16 * Int(index), bytes)
    }

    /// Makes `head` available and notifies the device.
    mutating func publish(_ head: UInt16, notify: Bool = true) {
        h.vmm.setGuestRAM(Int(Self.availRing) + 4 + 2 * Int(availIndex % queueSize), le(UInt64(head), 2))
        availIndex &+= 1
        h.vmm.setGuestRAM(Int(Self.availRing) + 2, le(UInt64(availIndex), 2))
        if notify { setReg(0x50, 0) }
    }

    /// A request at `head` using descriptors head, head+1, … : header, `data`, status. Returns nothing; see
    /// `status(head)` and the used ring afterwards.
    mutating func request(head: UInt16, type: UInt32, sector: UInt64, data: [Segment], notify: Bool = true) {
        let header = Self.headers + 16 * UInt64(head)
        h.vmm.setGuestRAM(Int(header), le(UInt64(type), 4) + le(0, 4) + le(sector, 8))
        h.vmm.setGuestRAM(Int(Self.statuses) + Int(head), [0xee])
        var index = head
        setDescriptor(index, address: header, length: 16, flags: 1, next: index + 1)
        for segment in data {
            index += 1
            setDescriptor(index, address: segment.address, length: segment.length,
                          flags: 1 | (segment.writable ? 2 : 0), next: index + 1)
        }
        index += 1
        setDescriptor(index, address: Self.statuses + UInt64(head), length: 1, flags: 2, next: 0)
        publish(head, notify: notify)
    }

    /// The status byte of the request at `head` (0xee until the device writes it).
    func status(_ head: UInt16) -> UInt8 { h.vmm.guestRAM(Int(Self.statuses) + Int(head), count: 1)[0] }

    /// The used ring index the device published.
    var usedIndex: UInt16 {
        let b = h.vmm.guestRAM(Int(Self.usedRing) + 2, count: 2)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    /// Used ring entry `i` (id, len).
    func usedEntry(_ i: UInt16) -> (id: UInt32, length: UInt32) {
        let b = h.vmm.guestRAM(Int(Self.usedRing) + 4 + 8 * Int(i % queueSize), count: 8)
        let id = b[0..<4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
        let length = b[4..<8].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
        return (id, length)
    }

    /// Polls (bounded: 5 s) until the used index reaches `count`.
    func waitUsed(_ count: UInt16) -> Bool {
        for _ in 0..<5000 {
            if usedIndex == count { return true }
            usleep(1000)
        }
        return usedIndex == count
    }
}

/// Little-endian bytes of the low `count` bytes of `value`.
func le(_ value: UInt64, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
}
