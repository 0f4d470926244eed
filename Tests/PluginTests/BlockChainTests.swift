import CVMHostABI
import Foundation
import Glibc
import PDM
import PluginTestKit
import Testing

/// The real block chain below a real VirtioBlk: Block → RawFile on a temporary image file.
@Suite(.serialized)
struct BlockChainTests {
    static let imageSize = 1 << 20

    final class Image {
        let path: String
        init(size: Int, fill: UInt8 = 0) throws {
            path = "\(NSTemporaryDirectory())vmhost-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).img"
            try Data(repeating: fill, count: size).write(to: URL(fileURLWithPath: path))
        }
        var contents: [UInt8] { (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? [] }
        deinit { unlink(path) }
    }

    func harness(_ image: Image, readOnly: Bool = false) throws -> PluginTestHarness {
        let h = PluginTestHarness(vmm: RecordingVMM(guestRAMSize: 4 << 20), asyncDeadlineMilliseconds: 10_000)
        for product in ["VirtioBlk", "Block", "RawFile"] { try h.loadProduct(product) }
        let raw = DriverConfig(name: "RawFile", settings: ["path": .string(image.path), "read-only": .bool(readOnly)])
        h.addDevice(DeviceConfig(name: "VirtioBlk").lun(0, DriverConfig(name: "Block", below: raw)))
        try h.construct()
        try h.powerOn()
        return h
    }

    func pattern(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 / 7) &* 13 &+ seed) }
    }

    @Test func writesReachTheFileAndReadBack() throws {
        let image = try Image(size: Self.imageSize)
        let h = try harness(image)
        var q = VirtqueueTestDriver(h, queueSize: 32)
        q.initialize()
        #expect(h.mmioRead(0xd000_1100, size: 8).value == UInt64(Self.imageSize / 512))
        // 8 writes of 4 KiB in flight together (heads 0, 3, 6, …, 21), then 8 reads into another buffer.
        let data = pattern(8 * 4096, seed: 3)
        h.vmm.setGuestRAM(0x100000, data)
        for i in 0..<8 {
            q.request(head: UInt16(3 * i), type: 1, sector: UInt64(64 + 8 * i),
                      data: [.init(address: 0x100000 + UInt64(4096 * i), length: 4096, writable: false)])
        }
        #expect(q.waitUsed(8))
        #expect((0..<8).allSatisfy { q.status(UInt16(3 * $0)) == 0 })
        #expect(Array(image.contents[32768..<(32768 + data.count)]) == data)
        for i in 0..<8 {
            q.request(head: UInt16(3 * i), type: 0, sector: UInt64(64 + 8 * i),
                      data: [.init(address: 0x200000 + UInt64(4096 * i), length: 4096, writable: true)])
        }
        #expect(q.waitUsed(16))
        #expect(h.vmm.guestRAM(0x200000, count: data.count) == data)
    }

    @Test func readOnlyImageRefusesWritesButReads() throws {
        let image = try Image(size: Self.imageSize, fill: 0x5a)
        let h = try harness(image, readOnly: true)
        var q = VirtqueueTestDriver(h)
        q.initialize(features: (1 << 32) | (1 << 5))
        q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x100000, length: 512, writable: false)])
        #expect(q.status(0) == 1)
        q.request(head: 3, type: 0, sector: 0, data: [.init(address: 0x100000, length: 512, writable: true)])
        #expect(q.waitUsed(2))
        #expect(q.status(3) == 0)
        #expect(h.vmm.guestRAM(0x100000, count: 512) == [UInt8](repeating: 0x5a, count: 512))
        #expect(image.contents.allSatisfy { $0 == 0x5a })
    }

    @Test func powerOffFlushesAndEveryAcknowledgedWriteIsInTheFile() throws {
        let image = try Image(size: Self.imageSize)
        let h = try harness(image)
        var q = VirtqueueTestDriver(h)
        q.initialize()
        let data = pattern(16 * 512, seed: 11)
        h.vmm.setGuestRAM(0x100000, data)
        for i in 0..<4 {
            q.request(head: UInt16(3 * i), type: 1, sector: UInt64(4 * i),
                      data: [.init(address: 0x100000 + UInt64(2048 * i), length: 2048, writable: false)])
        }
        try h.powerOff()  // waits for the writes in flight, then flushes
        #expect(q.usedIndex == 4)
        #expect(Array(image.contents[0..<data.count]) == data)
        let block = h.messages(of: "VirtioBlk/0/0/Block/0")
        #expect(block.contains("flushed"))
    }

    @Test func missingImageNamesThePathSetting() throws {
        let h = PluginTestHarness()
        for product in ["VirtioBlk", "Block", "RawFile"] { try h.loadProduct(product) }
        let raw = DriverConfig(name: "RawFile", settings: ["path": .string("/nonexistent/disk.img")])
        h.addDevice(DeviceConfig(name: "VirtioBlk").lun(0, DriverConfig(name: "Block", below: raw)))
        #expect(throws: PDMError.self) { try h.construct() }
        #expect(h.messages(of: "VirtioBlk/0/0/Block/0/RawFile/0").contains { $0.contains("`path`") }
                || h.logRecords.contains { $0.message.contains("`path`") })
    }

    @Test func virtioBlkWithoutAChainIsRefused() throws {
        let h = PluginTestHarness()
        try h.loadProduct("VirtioBlk")
        h.addDevice(DeviceConfig(name: "VirtioBlk"))
        #expect(throws: PDMError.self) { try h.construct() }
        #expect(h.messages(of: "VirtioBlk/0").contains { $0.contains("LUN 0") })
    }
}
