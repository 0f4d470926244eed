import Foundation
import Glibc
import KVM
import Testing
import VMM

/// The single-vCPU machine running real PVH guests on real KVM.
@Suite(.serialized) struct MachineTests {
    @Test func createsVCPUsWithTheirAPICIDsInCPUID() throws {
        let supported = try KVMSystem().supportedCPUID()
        let entries = Machine.cpuid(supported, apicID: 3, vcpuCount: 4)
        let leaf1 = try #require(entries.first { $0.function == 1 })
        #expect(leaf1.ebx >> 24 == 3)
        #expect((leaf1.ebx >> 16) & 0xff == 4)
        for e in entries where e.function == 0xB { #expect(e.edx == 3) }

        let machine = try Machine(configuration: MachineConfiguration(memorySize: 64 << 20, vcpuCount: 2))
        #expect(machine.vcpus.map(\.id) == [0, 1])
        #expect(try machine.vcpus[1].mpState() == .uninitialized)
        #expect(machine.memory.layout.regions.count == 1)
    }

    @Test func ramAboveTheHoleGetsASecondSlot() throws {
        // 3.5 GiB: 3 GiB below the MMIO hole, 0.5 GiB from 4 GiB (mapped lazily, never touched but for two words).
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 0xE000_0000))
        let regions = machine.memory.layout.regions
        #expect(regions.count == 2)
        #expect(regions[1].guestRange == 0x1_0000_0000..<0x1_2000_0000)
        try machine.memory.store(UInt64(0x1122_3344_5566_7788), at: 0x1_1fff_fff8)
        #expect(try machine.memory.load(UInt64.self, at: 0x1_1fff_fff8) == 0x1122_3344_5566_7788)
        #expect(!machine.memory.contains(0xd000_0000, count: 4))
    }

    @Test func refusesABadVCPUCount() {
        #expect(throws: MachineError.self) {
            _ = try Machine(configuration: MachineConfiguration(memorySize: 64 << 20, vcpuCount: 0))
        }
    }

    @Test func loaderPutsTheBSPInPVHEntryState() throws {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 64 << 20))
        let info = try machine.loadPVHKernel(path: TestGuests.path("hello"), commandLine: "")
        let regs = try machine.vcpus[0].registers()
        #expect(regs.rip == UInt64(info.entryPoint))
        #expect(regs.rbx == info.startInfoAddress)
        #expect(regs.rflags == 2)
        let sregs = try machine.vcpus[0].specialRegisters()
        #expect(sregs.cr0 & 1 == 1)          // protected mode
        #expect(sregs.cr0 & 0x8000_0000 == 0)  // paging off
        #expect(sregs.cs.db == 1 && sregs.cs.l == 0 && sregs.cs.limit == 0xffff_ffff)
        #expect(sregs.efer == 0)
    }

    /// A reset reloads the image the VM booted, even when the kernel file was overwritten (same size) or cut
    /// short since: the file is read once, at load.
    @Test func reloadAfterResetUsesTheImageReadAtBoot() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vmhost-reload-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("hello.elf").path
        try FileManager.default.copyItem(atPath: TestGuests.path("hello"), toPath: copy)
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 64 << 20))
        let info = try machine.loadPVHKernel(path: copy, commandLine: "")
        let range = try #require(info.loadedRanges.first)
        let count = Int(min(range.count, 4096))
        let booted = try machine.memory.bytes(at: range.lowerBound, count: count)
        #expect(booted.contains { $0 != 0 })

        let size = try #require(FileManager.default.attributesOfItem(atPath: copy)[.size] as? NSNumber).intValue
        try Data(repeating: 0xaa, count: size).write(to: URL(fileURLWithPath: copy))  // same size, other bytes
        try machine.memory.zero(at: range.lowerBound, count: UInt64(count))          // the guest scribbled
        try machine.reloadKernel()
        #expect(try machine.memory.bytes(at: range.lowerBound, count: count) == booted)

        #expect(truncate(copy, 0) == 0)
        try machine.reloadKernel()
        #expect(try machine.memory.bytes(at: range.lowerBound, count: count) == booted)
    }

    @Test func helloReachesRing3AndWritesItsLine() throws {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 64 << 20))
        try machine.loadPVHKernel(path: TestGuests.path("hello"), commandLine: "")
        machine.freezeIORanges()
        let runner = try #require(machine.runner(forVCPU: 0))
        // No device is registered: the line to COM1 and the DebugExit write are unclaimed port writes.
        let expected = UInt64("hello: VMHost PVH test guest reached ring 3\n".utf8.count + 1)
        let dispatcher = machine.dispatcher
        let result = GuestRunLoop.run(runner) { outcome in
            outcome != .continue || dispatcher.unclaimedPortWrites >= expected
        }
        #expect(!result.timedOut)
        #expect(result.outcome == .continue)
        #expect(dispatcher.unclaimedPortWrites == expected)
    }

    @Test func tripleFaultIsAShutdownOutcome() throws {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 64 << 20))
        try machine.loadPVHKernel(path: TestGuests.path("triple-fault"), commandLine: "")
        machine.freezeIORanges()
        let runner = try #require(machine.runner(forVCPU: 0))
        let result = GuestRunLoop.run(runner) { $0 != .continue }
        #expect(!result.timedOut)
        guard case .shutdown(let reason, let registers) = result.outcome else {
            Issue.record("expected a shutdown outcome, got \(String(describing: result.outcome))")
            return
        }
        #expect(reason.contains("triple fault"))
        #expect(registers.contains("rip="))
        // The process is fine and KVM still works: make another VM.
        _ = try Machine(configuration: MachineConfiguration(memorySize: 16 << 20))
    }
}

/// Several vCPUs of one machine, each on its own thread, with the in-kernel LAPIC doing INIT/SIPI.
@Suite(.serialized) struct MachineSMPTests {
    @Test func twoVCPUsReachRing3AndCountWithTheirOwnAPICIDs() throws {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 64 << 20, vcpuCount: 2))
        try machine.loadPVHKernel(path: TestGuests.path("smp-counter"), commandLine: "cpus=2")
        machine.freezeIORanges()
        let runners = try machine.vcpus.indices.map { try #require(machine.runner(forVCPU: $0)) }
        let memory = machine.memory
        let (met, outcomes) = GuestRunLoop.runAll(runners) {
            let ring3 = (try? memory.load(UInt32.self, at: 0x10804)) ?? 0
            let c0 = (try? memory.load(UInt64.self, at: 0x10000)) ?? 0
            let c1 = (try? memory.load(UInt64.self, at: 0x10040)) ?? 0
            return ring3 == 2 && c0 > 1000 && c1 > 1000
        }
        #expect(met, "status: ring3=\(String(describing: try? memory.load(UInt32.self, at: 0x10804)))")
        #expect(outcomes.isEmpty, "unexpected outcomes \(outcomes)")
        #expect(try memory.load(UInt32.self, at: 0x10800) == 0x474d_4856)
        // The AP took its CPU index from its APIC id: counter 1 moved, counter 2 did not.
        #expect(try memory.load(UInt64.self, at: 0x10080) == 0)

        // Reset (platform + every vCPU) and run again: both CPUs come back to ring 3, the AP through a new
        // INIT/SIPI; the ring-3 count (outside the reloaded image) goes on from 2 to 4.
        try machine.resetPlatform()
        for r in runners { try r.resetToPowerOnState() }
        #expect(try machine.vcpus[1].mpState() == .uninitialized)
        let (again, outcomes2) = GuestRunLoop.runAll(runners) {
            ((try? memory.load(UInt32.self, at: 0x10804)) ?? 0) == 4
        }
        #expect(again, "ring3=\(String(describing: try? memory.load(UInt32.self, at: 0x10804)))")
        #expect(outcomes2.isEmpty)
    }
}
