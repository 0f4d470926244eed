import CKVM
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The state of one in-kernel interrupt controller (`struct kvm_irqchip`).
public typealias KVMIRQChipState = kvm_irqchip
/// The state of the in-kernel PIT (`struct kvm_pit_state2`).
public typealias KVMPITState = kvm_pit_state2

/// A KVM virtual machine (the descriptor `KVM_CREATE_VM` returned): memory slots, the in-kernel interrupt
/// controllers and PIT, interrupt lines, ioeventfd/irqfd, and its vCPUs.
///
/// Set-up methods are called from one thread; `setIRQLine`, `registerIOEventFD` and `registerIRQFD` may be called
/// from any thread (the kernel serialises them).
public final class KVMVirtualMachine: @unchecked Sendable {
    /// The KVM system this VM was created from (kept alive for `vcpuMmapSize`).
    public let system: KVMSystem
    /// The VM descriptor (closed on deinit, after every vCPU released its own).
    public let fileDescriptor: FileDescriptor

    init(system: KVMSystem, fileDescriptor: FileDescriptor) {
        self.system = system
        self.fileDescriptor = fileDescriptor
    }

    deinit { _ = try? fileDescriptor.close() }

    /// `KVM_CHECK_EXTENSION` on the VM descriptor (some capabilities are per VM).
    public func checkExtension(_ capability: KVMCapability) throws(KVMError) -> Int32 {
        try KVMError.check(
            ckvm_ioctl_val(fileDescriptor.rawValue, ckvm_req_vm_check_extension(), UInt(bitPattern: Int(capability.rawValue))),
            "KVM_CHECK_EXTENSION (VM) \(capability)")
    }

    /// `KVM_SET_USER_MEMORY_REGION`: maps `size` bytes of host memory at `hostAddress` into the guest at
    /// `guestPhysicalAddress` as slot `slot`. A size of 0 deletes the slot. Addresses and size must be 4 KiB aligned.
    public func setUserMemoryRegion(slot: UInt32, guestPhysicalAddress: UInt64, size: UInt64,
                                    hostAddress: UnsafeMutableRawPointer?, readOnly: Bool = false,
                                    logDirtyPages: Bool = false) throws(KVMError) {
        let op = "KVM_SET_USER_MEMORY_REGION slot \(slot) gpa 0x\(String(guestPhysicalAddress, radix: 16)) size 0x\(String(size, radix: 16))"
        let host = UInt64(UInt(bitPattern: hostAddress))
        guard guestPhysicalAddress & 0xfff == 0, size & 0xfff == 0, host & 0xfff == 0 else {
            throw .invalidArgument(operation: op, reason: "addresses and size must be 4 KiB aligned")
        }
        var region = kvm_userspace_memory_region()
        region.slot = slot
        region.flags = (readOnly ? ckvm_mem_readonly() : 0) | (logDirtyPages ? ckvm_mem_log_dirty_pages() : 0)
        region.guest_phys_addr = guestPhysicalAddress
        region.memory_size = size
        region.userspace_addr = host
        _ = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_set_user_memory_region(), &region), op)
    }

    /// `KVM_SET_TSS_ADDR`: three pages of guest-physical space KVM may use for the real-mode TSS (Intel).
    public func setTSSAddress(_ address: UInt64) throws(KVMError) {
        _ = try KVMError.check(
            ckvm_ioctl_val(fileDescriptor.rawValue, ckvm_req_set_tss_addr(), UInt(address)),
            "KVM_SET_TSS_ADDR 0x\(String(address, radix: 16))")
    }

    /// `KVM_SET_IDENTITY_MAP_ADDR`: one page of guest-physical space for the EPT identity map (Intel).
    public func setIdentityMapAddress(_ address: UInt64) throws(KVMError) {
        var a = address
        _ = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_set_identity_map_addr(), &a),
            "KVM_SET_IDENTITY_MAP_ADDR 0x\(String(address, radix: 16))")
    }

    /// `KVM_CREATE_IRQCHIP`: in-kernel PIC pair, IOAPIC and per-vCPU local APICs. Call before creating vCPUs.
    public func createIRQChip() throws(KVMError) {
        _ = try KVMError.check(
            ckvm_ioctl_val(fileDescriptor.rawValue, ckvm_req_create_irqchip(), 0), "KVM_CREATE_IRQCHIP")
    }

    /// `KVM_CREATE_PIT2`: in-kernel i8254 PIT (after `createIRQChip`). `dummySpeaker` makes port 0x61 a stub.
    public func createPIT2(dummySpeaker: Bool = true) throws(KVMError) {
        var config = kvm_pit_config()
        config.flags = dummySpeaker ? ckvm_pit_speaker_dummy() : 0
        _ = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_create_pit2(), &config), "KVM_CREATE_PIT2")
    }

    /// One of the in-kernel interrupt controllers (`KVM_IRQCHIP_*`).
    public enum IRQChip: UInt32, Sendable, CaseIterable {
        case picMaster = 0, picSlave = 1, ioapic = 2
    }

    /// `KVM_GET_IRQCHIP`: the state of one in-kernel interrupt controller.
    public func irqChipState(_ chip: IRQChip) throws(KVMError) -> KVMIRQChipState {
        var state = kvm_irqchip()
        state.chip_id = chip.rawValue
        _ = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_get_irqchip(), &state), "KVM_GET_IRQCHIP \(chip)")
        return state
    }

    /// `KVM_SET_IRQCHIP`: restores a state `irqChipState` returned (its `chip_id` says which controller).
    public func setIRQChipState(_ state: KVMIRQChipState) throws(KVMError) {
        var s = state
        _ = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_set_irqchip(), &s), "KVM_SET_IRQCHIP \(state.chip_id)")
    }

    /// `KVM_GET_PIT2`: the in-kernel PIT's state.
    public func pitState() throws(KVMError) -> KVMPITState {
        var state = kvm_pit_state2()
        _ = try KVMError.check(ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_get_pit2(), &state), "KVM_GET_PIT2")
        return state
    }

    /// `KVM_SET_PIT2`.
    public func setPITState(_ state: KVMPITState) throws(KVMError) {
        var s = state
        _ = try KVMError.check(ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_set_pit2(), &s), "KVM_SET_PIT2")
    }

    /// `KVM_IRQ_LINE`: drives GSI `irq` of the in-kernel irqchip to `level` (edge-triggered lines need 1 then 0).
    public func setIRQLine(_ irq: UInt32, level: Bool) throws(KVMError) {
        var line = kvm_irq_level()
        line.irq = irq
        line.level = level ? 1 : 0
        _ = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_irq_line(), &line), "KVM_IRQ_LINE \(irq)")
    }

    /// Address space of an ioeventfd.
    public enum IOEventSpace: Sendable { case pio, mmio }

    /// `KVM_IOEVENTFD`: a guest write of `length` bytes at `address` signals `eventFD` in the kernel instead of
    /// exiting to user space. With `dataMatch`, only writes of that value do.
    public func registerIOEventFD(_ eventFD: Int32, space: IOEventSpace, address: UInt64, length: UInt32,
                                  dataMatch: UInt64? = nil, deassign: Bool = false) throws(KVMError) {
        var e = kvm_ioeventfd()
        e.fd = eventFD
        e.addr = address
        e.len = length
        var flags: UInt32 = space == .pio ? ckvm_ioeventfd_flag_pio() : 0
        if let dataMatch { e.datamatch = dataMatch; flags |= ckvm_ioeventfd_flag_datamatch() }
        if deassign { flags |= ckvm_ioeventfd_flag_deassign() }
        e.flags = flags
        _ = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_ioeventfd(), &e),
            "KVM_IOEVENTFD 0x\(String(address, radix: 16))")
    }

    /// `KVM_IRQFD`: signalling `eventFD` raises GSI `gsi` (edge) in the kernel.
    public func registerIRQFD(_ eventFD: Int32, gsi: UInt32, deassign: Bool = false) throws(KVMError) {
        var f = kvm_irqfd()
        f.fd = UInt32(bitPattern: eventFD)
        f.gsi = gsi
        f.flags = deassign ? ckvm_irqfd_flag_deassign() : 0
        _ = try KVMError.check(ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_irqfd(), &f), "KVM_IRQFD gsi \(gsi)")
    }

    /// `KVM_CREATE_VCPU` with id `id` (also its initial APIC id) and maps its `kvm_run` area.
    public func createVCPU(id: UInt32) throws(KVMError) -> KVMVCPU {
        let fd = try KVMError.check(
            ckvm_ioctl_val(fileDescriptor.rawValue, ckvm_req_create_vcpu(), UInt(id)), "KVM_CREATE_VCPU \(id)")
        let size = system.vcpuMmapSize
        guard let map = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), map != MAP_FAILED else {
            let e = Errno(rawValue: errno)
            close(fd)
            throw .mapFailed(operation: "mmap kvm_run of vCPU \(id)", errno: e)
        }
        return KVMVCPU(id: id, vm: self, fileDescriptor: FileDescriptor(rawValue: fd), runMapping: map, mapSize: size)
    }
}
