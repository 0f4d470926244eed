import Foundation
import KVM
import SystemPackage
import Testing

/// The typed KVM wrappers against the real /dev/kvm.
@Suite(.serialized)
struct KVMLayerTests {
    @Test func opensKVMAndReportsStableAPI() throws {
        let kvm = try KVMSystem()
        #expect(kvm.apiVersion == 12)
        #expect(kvm.vcpuMmapSize >= 4096)
        try kvm.require(KVMCapability.requiredForMachine)
        #expect(kvm.recommendedVCPUs >= 1)
        #expect(kvm.maximumVCPUs >= kvm.recommendedVCPUs)
    }

    @Test func missingDeviceIsAClearError() {
        let path = "/dev/no-such-kvm-\(getpid())"
        #expect(throws: KVMError.deviceMissing(path: path)) { try KVMSystem(path: path) }
        do {
            _ = try KVMSystem(path: path)
        } catch {
            #expect(error.description.contains(path))
        }
    }

    @Test func unopenableDeviceIsAPermissionError() throws {
        // sysfs refuses read-write opens of this file even to root: the errno KVM gives a user without access.
        let path = "/sys/kernel/notes"
        try #require(FileManager.default.fileExists(atPath: path))
        #expect(throws: KVMError.permissionDenied(path: path)) { try KVMSystem(path: path) }
        #expect(KVMError.permissionDenied(path: path).description.contains("no permission to open \(path)"))
    }

    @Test func aFileThatIsNotKVMFailsTheVersionIoctl() throws {
        do {
            _ = try KVMSystem(path: "/proc/version")
            Issue.record("/proc/version was accepted as a KVM device")
        } catch {
            guard case .ioctlFailed(let op, let errno) = error else { Issue.record("unexpected \(error)"); return }
            #expect(op == "KVM_GET_API_VERSION")
            #expect(errno == .inappropriateIOCTLForDevice)
        }
    }

    @Test func missingCapabilityIsNamed() throws {
        let kvm = try KVMSystem()
        let bogus = KVMCapability(0x7fff_0000, name: "KVM_CAP_BOGUS")
        #expect(!kvm.has(bogus))
        do {
            try kvm.require([.userMemory, bogus])
            Issue.record("require accepted a capability KVM cannot have")
        } catch {
            #expect(error == .missingCapability(bogus))
            #expect(error.description.contains("KVM_CAP_BOGUS"))
        }
    }

    @Test func supportedCPUIDHasBasicLeaves() throws {
        let entries = try KVMSystem().supportedCPUID()
        let functions = Set(entries.map(\.function))
        #expect(functions.contains(0))
        #expect(functions.contains(1))
        let leaf0 = try #require(entries.first { $0.function == 0 })
        #expect(leaf0.eax >= 1)  // highest basic leaf
    }

    @Test func ioctlFailureNamesOperationAndErrno() throws {
        let vm = try KVMSystem().createVirtualMachine()
        let page = try #require(
            mmap(nil, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(page, 0x2000) }
        try vm.setUserMemoryRegion(slot: 0, guestPhysicalAddress: 0, size: 0x2000, hostAddress: page)
        // A second slot overlapping the first is refused by KVM with EEXIST.
        do {
            try vm.setUserMemoryRegion(slot: 1, guestPhysicalAddress: 0x1000, size: 0x1000, hostAddress: page)
            Issue.record("overlapping memory slot was accepted")
        } catch {
            guard case .ioctlFailed(let op, let errno) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(op.contains("KVM_SET_USER_MEMORY_REGION slot 1"))
            #expect(errno == .fileExists)
        }
        // Misaligned regions are refused before the kernel sees them.
        #expect(throws: KVMError.self) {
            try vm.setUserMemoryRegion(slot: 2, guestPhysicalAddress: 0x10_0800, size: 0x1000, hostAddress: page)
        }
    }

    @Test func vcpuRunsWithImmediateExitAsInterrupted() throws {
        let vm = try KVMSystem().createVirtualMachine()
        try vm.setTSSAddress(0xfffb_d000)
        try vm.setIdentityMapAddress(0xfffb_c000)
        try vm.createIRQChip()
        try vm.createPIT2()
        let vcpu = try vm.createVCPU(id: 0)
        #expect(vcpu.id == 0)
        #expect(try vcpu.mpState() == .runnable)
        let ap = try vm.createVCPU(id: 1)
        #expect(try ap.mpState() == .uninitialized)

        vcpu.runState.immediateExit = true
        #expect(vcpu.runState.immediateExit)
        #expect(try vcpu.run() == .interrupted)
        vcpu.runState.immediateExit = false

        var regs = try vcpu.registers()
        regs.rax = 0x1234_5678
        regs.rflags = 2
        try vcpu.setRegisters(regs)
        #expect(try vcpu.registers().rax == 0x1234_5678)
        let dump = vcpu.registerDump()
        #expect(dump.contains("rax=0000000012345678"))
        #expect(dump.contains("cr0="))
    }

    @Test func irqLineAndCPUIDAccepted() throws {
        let kvm = try KVMSystem()
        let vm = try kvm.createVirtualMachine()
        try vm.createIRQChip()
        let vcpu = try vm.createVCPU(id: 0)
        try vcpu.setCPUID(try kvm.supportedCPUID())
        try vm.setIRQLine(4, level: true)
        try vm.setIRQLine(4, level: false)
        // The TSC MSR is always readable.
        let tsc = try vcpu.msrs([0x10])
        #expect(tsc.count == 1)
    }
}
