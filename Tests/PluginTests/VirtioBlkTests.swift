import CVMHostABI
import Foundation
import PDM
import PluginTestKit
import Testing

/// libVirtioBlk.so through the test kit: registers, feature negotiation, the split virtqueue over the
/// RecordingVMM's guest RAM, malicious descriptors and fuzzing, with the TestDisk stub (and the real Block driver
/// for the suspend walk).
extension TestDiskSuites {
    @Suite(.serialized)
    struct VirtioBlkTests {
        static let base: UInt64 = 0xd000_1000
        static let diskSize = 1 << 20

        func harness(withBlock: Bool = false, readOnly: Bool = false, settings: Settings = [:],
                     blockSettings: Settings = [:]) throws -> PluginTestHarness {
            TestDiskDriver.reset(size: Self.diskSize, readOnly: readOnly)
            let h = PluginTestHarness(vmm: RecordingVMM(guestRAMSize: 4 << 20), asyncDeadlineMilliseconds: 10_000)
            try h.loadProduct("VirtioBlk")
            try h.loadProduct("Block")
            try TestDiskDriver.register(in: h.registry)
            let disk = DriverConfig(name: TestDiskDriver.name)
            let chain = withBlock ? DriverConfig(name: "Block", settings: blockSettings, below: disk) : disk
            h.addDevice(DeviceConfig(name: "VirtioBlk", settings: settings).lun(0, chain))
            try h.construct()
            try h.powerOn()
            return h
        }

        func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
            (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
        }

        // MARK: Registers

        @Test func identityFeaturesAndConfigSpace() throws {
            let h = try harness()
            let q = VirtqueueTestDriver(h)
            #expect(q.reg(0x000) == 0x7472_6976)
            #expect(q.reg(0x004) == 2)
            #expect(q.reg(0x008) == 2)
            q.setReg(0x14, 1)
            #expect(q.reg(0x010) & 1 == 1)  // VIRTIO_F_VERSION_1 (bit 32)
            q.setReg(0x14, 0)
            #expect(q.reg(0x010) & (1 << 9) != 0)  // VIRTIO_BLK_F_FLUSH
            #expect(q.reg(0x010) & (1 << 5) == 0)  // not read-only
            #expect(h.mmioRead(Self.base + 0x100, size: 8).value == UInt64(Self.diskSize / 512))
            #expect(h.mmioRead(Self.base + 0x114, size: 4).value == 512)  // blk_size
            #expect(h.mmioRead(Self.base + 0x100, size: 1).value == UInt64(Self.diskSize / 512) & 0xff)
            #expect(h.vmm.mmioRanges.map(\.gpa) == [Self.base])
            #expect(h.vmm.mmioRanges.map(\.size) == [0x200])
            #expect(h.messages(of: "VirtioBlk/0").contains { $0.contains("virtio_mmio.device=512@0xd0001000:10") })
        }

        @Test func featuresOKNeedsVersion1AndOnlyOfferedBits() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            #expect(q.initialize(features: 1 << 9) & 8 == 0)  // no VERSION_1: FEATURES_OK refused
            #expect(q.initialize(features: (1 << 32) | (1 << 20)) & 8 == 0)  // bit 20 was not offered
            #expect(q.initialize() & 8 == 8)
            #expect(q.reg(0x44) == 1)  // queue ready
        }

        @Test func queueOutsideGuestRAMIsRefused() throws {
            let h = try harness()
            let q = VirtqueueTestDriver(h)
            for (offset, value) in [(0x70, 1), (0x70, 3), (0x20, 0), (0x24, 1), (0x20, 1), (0x70, 11),
                                    (0x38, 16), (0x80, 0xfff0_0000), (0x90, 0x11000), (0xa0, 0x12000), (0x44, 1)] {
                q.setReg(UInt64(offset), UInt32(value))
            }
            #expect(q.reg(0x44) == 0)
            #expect(q.reg(0x70) & 64 == 64)  // DEVICE_NEEDS_RESET
            q.setReg(0x70, 0)
            #expect(q.reg(0x70) == 0)
        }

        // MARK: Requests

        @Test func writeThenReadThroughTheVirtqueue() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            let data = pattern(4096, seed: 7)
            h.vmm.setGuestRAM(0x100000, data)
            q.request(head: 0, type: 1, sector: 8, data: [.init(address: 0x100000, length: 1024, writable: false),
                                                          .init(address: 0x100400, length: 3072, writable: false)])
            #expect(TestDiskDriver.pendingCount == 1)
            #expect(q.status(0) == 0xee)  // not acknowledged before the medium completes
            #expect(q.usedIndex == 0)
            #expect(TestDiskDriver.completePending() == 1)
            #expect(q.usedIndex == 1)
            #expect(q.status(0) == 0)
            #expect(q.usedEntry(0) == (id: 0, length: 1))
            #expect(Array(TestDiskDriver.disk[4096..<8192]) == data)
            #expect(h.vmm.irqHistory.last.map { $0.irq == 10 && $0.level == 1 } == true)
            #expect(q.reg(0x60) == 1)
            q.setReg(0x64, 1)  // InterruptACK lowers the line
            #expect(h.vmm.irqHistory.last?.level == 0)

            q.request(head: 4, type: 0, sector: 8, data: [.init(address: 0x200000, length: 4096, writable: true)])
            TestDiskDriver.completePending()
            #expect(q.usedIndex == 2)
            #expect(q.status(4) == 0)
            #expect(q.usedEntry(1) == (id: 4, length: 4097))
            #expect(h.vmm.guestRAM(0x200000, count: 4096) == data)
        }

        /// A chain that completes inside `submit` (forbidden by the interface) must not hang the vCPU on the
        /// device's lock: the request still completes, once.
        @Test(.timeLimit(.minutes(1)))
        func aChainCompletingInsideSubmitDoesNotHangTheDevice() throws {
            let h = try harness()
            TestDiskDriver.completeInsideSubmit()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            let data = pattern(4096, seed: 11)
            h.vmm.setGuestRAM(0x100000, data)
            q.request(head: 0, type: 1, sector: 16, data: [.init(address: 0x100000, length: 4096, writable: false)])
            #expect(q.usedIndex == 1)
            #expect(q.status(0) == 0)
            #expect(Array(TestDiskDriver.disk[8192..<12288]) == data)
            #expect(TestDiskDriver.pendingCount == 0)
        }

        @Test func noInterruptFlagSuppressesTheUsedBufferInterrupt() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            h.vmm.setGuestRAM(Int(VirtqueueTestDriver.availRing), le(1, 2))  // VIRTQ_AVAIL_F_NO_INTERRUPT: polling
            let irqsBefore = h.vmm.irqHistory.count
            q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(TestDiskDriver.completePending() == 1)
            #expect(q.usedIndex == 1)  // used, and the polling driver sees it …
            #expect(h.vmm.irqHistory.count == irqsBefore)  // … without an interrupt
            #expect(q.reg(0x60) == 0)
            // Interrupts wanted again: the next completion raises the line.
            h.vmm.setGuestRAM(Int(VirtqueueTestDriver.availRing), le(0, 2))
            q.request(head: 3, type: 1, sector: 1, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(TestDiskDriver.completePending() == 1)
            #expect(q.usedIndex == 2)
            #expect(h.vmm.irqHistory.last.map { $0.irq == 10 && $0.level == 1 } == true)
            #expect(q.reg(0x60) == 1)
        }

        @Test func aChainThatCompletesInsideSubmitAndThenRefusesFinishesOnce() throws {
            let h = try harness()
            TestDiskDriver.completeInsideSubmit(thenRefuse: true)
            var q = VirtqueueTestDriver(h)
            q.initialize()
            q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(q.usedIndex == 1)  // once, with the completion's status
            #expect(q.status(0) == 0)
            // The in-flight count did not go below zero: the next request is served normally.
            q.request(head: 3, type: 1, sector: 1, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(q.usedIndex == 2)
            #expect(q.usedEntry(1).id == 3)
        }

        @Test func flushGetIDAndUnsupportedTypes() throws {
            let h = try harness(settings: ["serial": .string("disk-serial-1")])
            var q = VirtqueueTestDriver(h)
            q.initialize()
            q.request(head: 0, type: 4, sector: 0, data: [])
            #expect(TestDiskDriver.submitted.map(\.op) == [VMH_BLOCK_OP_FLUSH])
            TestDiskDriver.completePending()
            #expect(q.status(0) == 0)
            q.request(head: 2, type: 8, sector: 0, data: [.init(address: 0x100000, length: 20, writable: true)])
            #expect(q.status(2) == 0)  // GET_ID completes at once, without the medium
            #expect(h.vmm.guestRAM(0x100000, count: 20) == Array("disk-serial-1".utf8) + [UInt8](repeating: 0, count: 7))
            q.request(head: 5, type: 99, sector: 0, data: [])
            #expect(q.status(5) == 2)  // VIRTIO_BLK_S_UNSUPP
            #expect(TestDiskDriver.submitted.count == 1)
            #expect(q.usedIndex == 3)
        }

        @Test func requestsBeyondTheDiskFail() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            q.request(head: 0, type: 0, sector: UInt64(Self.diskSize / 512),
                      data: [.init(address: 0x100000, length: 512, writable: true)])
            #expect(q.status(0) == 1)
            q.request(head: 3, type: 1, sector: 0, data: [.init(address: 0x100000, length: 100, writable: false)])
            #expect(q.status(3) == 1)  // not whole sectors
            #expect(TestDiskDriver.submitted.isEmpty)
        }

        @Test func readOnlyDiskRefusesWrites() throws {
            let h = try harness(readOnly: true)
            var q = VirtqueueTestDriver(h)
            q.setReg(0x14, 0)
            #expect(q.reg(0x010) & (1 << 5) != 0)  // VIRTIO_BLK_F_RO
            q.initialize(features: (1 << 32) | (1 << 5))
            q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(q.status(0) == 1)
            #expect(TestDiskDriver.submitted.isEmpty)
        }

        // MARK: Malicious descriptors

        @Test func maliciousDescriptorsFailOnlyTheirRequest() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            // Data buffer outside guest RAM (4 MiB).
            q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x4000_0000, length: 512, writable: false)])
            #expect(q.status(0) == 1)
            // Huge length.
            q.request(head: 3, type: 0, sector: 0, data: [.init(address: 0x100000, length: 0xffff_fe00, writable: true)])
            #expect(q.status(3) == 1)
            // A loop: 6 → 7 → 6 → …; descriptor 7 is device-writable, so its last byte gets IOERR.
            q.setDescriptor(6, address: VirtqueueTestDriver.headers, length: 16, flags: 1, next: 7)
            q.setDescriptor(7, address: 0x28100, length: 1, flags: 1 | 2, next: 6)
            h.vmm.setGuestRAM(0x28100, [0xee])
            q.publish(6)
            #expect(h.vmm.guestRAM(0x28100, count: 1) == [1])
            // A link outside the queue.
            q.setDescriptor(8, address: VirtqueueTestDriver.headers, length: 16, flags: 1, next: 500)
            q.publish(8)
            // An indirect descriptor (not negotiated).
            q.setDescriptor(9, address: 0x100000, length: 16, flags: 4, next: 0)
            q.publish(9)
            // A head outside the queue: dropped without a used entry.
            q.publish(999)
            // The header itself outside RAM, with a valid status descriptor.
            q.setDescriptor(10, address: 0x7000_0000, length: 16, flags: 1, next: 11)
            q.setDescriptor(11, address: 0x28110, length: 1, flags: 2, next: 0)
            q.publish(10)
            #expect(h.vmm.guestRAM(0x28110, count: 1) == [1])
            #expect(TestDiskDriver.submitted.isEmpty)
            #expect(q.usedIndex == 6)  // every request except the out-of-queue head came back
            let ids = (0..<6).map { q.usedEntry(UInt16($0)).id }
            #expect(ids == [0, 3, 6, 8, 9, 10])
            #expect(h.messages(of: "VirtioBlk/0").filter { $0.contains("IOERR") || $0.contains("outside") }.count >= 6)
            // The device still serves a good request.
            h.vmm.setGuestRAM(0x100000, pattern(512, seed: 1))
            q.request(head: 12, type: 1, sector: 1, data: [.init(address: 0x100000, length: 512, writable: false)])
            TestDiskDriver.completePending()
            #expect(q.status(12) == 0)
            #expect(Array(TestDiskDriver.disk[512..<1024]) == pattern(512, seed: 1))
        }

        @Test func fuzzedDescriptorTablesNeverCrash() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            var rng = SplitMix64(seed: 0xb10c)
            for _ in 0..<300 {
                // Random descriptors (addresses mostly inside RAM, lengths and links anything) and a random head.
                for index in 0..<UInt16(16) {
                    let address = Bool.random(using: &rng) ? UInt64.random(in: 0..<(4 << 20), using: &rng)
                                                           : UInt64.random(in: 0...UInt64.max, using: &rng)
                    q.setDescriptor(index, address: address, length: UInt32.random(in: 0...UInt32.max, using: &rng),
                                    flags: UInt16.random(in: 0...7, using: &rng),
                                    next: UInt16.random(in: 0...20, using: &rng))
                }
                q.publish(UInt16.random(in: 0...17, using: &rng))
                TestDiskDriver.completePending()
            }
            // Still a working device after a reset and a fresh queue.
            q.initialize()
            h.vmm.setGuestRAM(0x100000, pattern(512, seed: 9))
            q.request(head: 0, type: 1, sector: 2, data: [.init(address: 0x100000, length: 512, writable: false)])
            TestDiskDriver.completePending()
            #expect(q.status(0) == 0)
            #expect(Array(TestDiskDriver.disk[1024..<1536]) == pattern(512, seed: 9))
        }

        @Test func fuzzedRegisterAccessNeverCrashes() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            let stats = h.fuzzIO(iterations: 30_000, seed: 0x7172)
            #expect(stats.ranges == 1 && stats.failedAccesses == 0)
            TestDiskDriver.completePending()
            q.initialize()
            q.request(head: 1, type: 4, sector: 0, data: [])
            TestDiskDriver.completePending()
            #expect(q.status(1) == 0)
        }

        // MARK: Reset and suspend

        @Test func completionsAfterADeviceResetAreDropped() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x100000, length: 512, writable: false)])
            q.setReg(0x70, 0)  // the driver resets the device with the request in flight
            TestDiskDriver.completePending()
            #expect(q.usedIndex == 0)
            #expect(q.status(0) == 0xee)
        }

        @Test func requestsAfterAResetWaitForTheOnesFromBeforeIt() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(TestDiskDriver.pendingCount == 1)
            // The driver resets and re-initialises the device while the medium still holds that request, then
            // uses head 0 again: the new request waits (its head, buffer and disk order) for the old one.
            q.initialize()
            q.request(head: 0, type: 0, sector: 1, data: [.init(address: 0x101000, length: 512, writable: true)])
            #expect(TestDiskDriver.submitted.count == 1)
            // The old one comes back and is dropped (nobody waits for it); then the queue is served.
            #expect(TestDiskDriver.completePending() == 1)
            #expect(q.usedIndex == 0)
            #expect(TestDiskDriver.submitted.count == 2)
            #expect(TestDiskDriver.submitted.last?.op == VMH_BLOCK_OP_READ)
            #expect(h.messages(of: "VirtioBlk/0").allSatisfy { !$0.contains("reused") })
            #expect(TestDiskDriver.completePending() == 1)
            #expect(q.usedIndex == 1)
            #expect(q.usedEntry(0).id == 0)
            #expect(q.status(0) == 0)
            // Head 0 again, with nothing in flight: served at once.
            q.request(head: 0, type: 1, sector: 2, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(TestDiskDriver.completePending() == 1)
            #expect(q.usedIndex == 2)
        }

        @Test func anAvailableIndexBeyondTheQueueSetsNeedsReset() throws {
            let h = try harness()
            var q = VirtqueueTestDriver(h)
            q.initialize()
            // A driver (or a torn read) claiming more new heads than the queue has.
            h.vmm.setGuestRAM(Int(VirtqueueTestDriver.availRing) + 2, le(UInt64(q.queueSize) + 1, 2))
            q.setReg(0x50, 0)
            #expect(TestDiskDriver.submitted.isEmpty)
            #expect(q.reg(0x70) & 0x40 != 0)  // DEVICE_NEEDS_RESET
            #expect(q.reg(0x60) & 2 != 0)  // configuration-change interrupt
            #expect(h.messages(of: "VirtioBlk/0").contains { $0.contains("entries ahead") && $0.contains("needs reset") })
            // Nothing more is taken until the driver resets; after a reset the queue works again.
            q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(TestDiskDriver.submitted.isEmpty)
            q.initialize()
            #expect(q.reg(0x70) & 0x40 == 0)
            q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(TestDiskDriver.completePending() == 1)
            #expect(q.usedIndex == 1)
        }

        @Test func suspendWaitsForInFlightRequestsThenResumePicksUpNotifications() throws {
            let h = try harness(withBlock: true)
            var q = VirtqueueTestDriver(h)
            q.initialize()
            for head: UInt16 in [0, 3, 6] {
                q.request(head: head, type: 1, sector: UInt64(head),
                          data: [.init(address: 0x100000, length: 512, writable: false)])
            }
            #expect(TestDiskDriver.pendingCount == 3)
            let done = Completion()
            let walker = Thread {
                do { try h.suspend() } catch { done.fail("\(error)") }
                done.finish()
            }
            walker.start()
            // The walk reports the Block driver as pending while the medium holds the requests.
            var sawProgress = false
            for _ in 0..<5000 where !sawProgress {
                sawProgress = h.progressReports.contains { $0.pending == ["VirtioBlk/0/0/Block/0"] }
                if !sawProgress { usleep(1000) }
            }
            #expect(sawProgress)
            #expect(!done.isFinished)
            // A notification while suspending is not taken now.
            q.request(head: 9, type: 1, sector: 9, data: [.init(address: 0x100000, length: 512, writable: false)])
            #expect(TestDiskDriver.submitted.count == 3)
            TestDiskDriver.completePending()
            #expect(done.wait())
            #expect(done.error == nil)
            #expect(q.usedIndex == 3)  // every in-flight request was completed to the guest before SUSPENDED
            #expect(h.messages(of: "VirtioBlk/0/0/Block/0").contains("waiting for 3 requests in flight"))
            #expect(h.messages(of: "VirtioBlk/0/0/Block/0").contains("quiesced"))
            try h.resume()
            #expect(TestDiskDriver.submitted.count == 4)
            TestDiskDriver.completePending()
            #expect(q.usedIndex == 4)
        }

        @Test func blockHoldsRequestsBeyondMaxInFlightInItsQueue() throws {
            let h = try harness(withBlock: true, blockSettings: ["max-in-flight": .integer(2)])
            var q = VirtqueueTestDriver(h)
            q.initialize()
            for i in 0..<5 {
                q.request(head: UInt16(3 * i), type: 1, sector: UInt64(i),
                          data: [.init(address: 0x100000, length: 512, writable: false)])
            }
            #expect(TestDiskDriver.pendingCount == 2)  // the other three wait in Block's queue
            #expect(TestDiskDriver.completePending() == 2)
            #expect(q.usedIndex == 2)
            #expect(TestDiskDriver.pendingCount == 2)  // each completion let one waiting request through
            TestDiskDriver.completePending()
            TestDiskDriver.completePending()
            #expect(q.usedIndex == 5)
            #expect(TestDiskDriver.submitted.map(\.offset) == [0, 512, 1024, 1536, 2048])  // in order
            #expect((0..<5).allSatisfy { q.status(UInt16(3 * $0)) == 0 })
        }

        @Test func powerOffFlushesThroughTheBlockDriver() throws {
            let h = try harness(withBlock: true)
            var q = VirtqueueTestDriver(h)
            q.initialize()
            q.request(head: 0, type: 1, sector: 0, data: [.init(address: 0x100000, length: 512, writable: false)])
            let done = Completion()
            let walker = Thread {
                do { try h.powerOff() } catch { done.fail("\(error)") }
                done.finish()
            }
            walker.start()
            // First the write completes, then Block sends a flush down.
            for _ in 0..<5000 where TestDiskDriver.submitted.count < 2 {
                TestDiskDriver.completePending()
                usleep(1000)
            }
            TestDiskDriver.completePending()
            #expect(done.wait())
            #expect(TestDiskDriver.submitted.map(\.op) == [VMH_BLOCK_OP_WRITE, VMH_BLOCK_OP_FLUSH])
            #expect(h.messages(of: "VirtioBlk/0/0/Block/0").contains("flushed"))
        }
    }
}

/// A one-shot completion flag with a bounded wait, for tests running a walk on another thread.
final class Completion: @unchecked Sendable {
    private let condition = NSCondition()
    private var finished = false
    private(set) var error: String?

    var isFinished: Bool { condition.lock(); defer { condition.unlock() }; return finished }

    func fail(_ message: String) {
        condition.lock()
        error = message
        condition.unlock()
    }

    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits up to 10 s; true when finished.
    func wait() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(10)
        while !finished && condition.wait(until: deadline) {}
        return finished
    }
}
