import ELF
import KVM

/// What a `Machine` is made of.
public struct MachineConfiguration: Sendable, Equatable {
    /// Guest RAM in bytes (at least 1 MiB; rounded up to 4 KiB).
    public var memorySize: UInt64
    /// Number of vCPUs (ids and APIC ids 0..<vcpuCount; vCPU 0 is the BSP).
    public var vcpuCount: Int
    /// The KVM device.
    public var kvmDevicePath: String

    public init(memorySize: UInt64, vcpuCount: Int = 1, kvmDevicePath: String = "/dev/kvm") {
        self.memorySize = memorySize
        self.vcpuCount = vcpuCount
        self.kvmDevicePath = kvmDevicePath
    }
}

/// One KVM virtual machine with its guest RAM, in-kernel irqchip and PIT, vCPUs, I/O range table and exit
/// dispatcher. Built single-threaded; afterwards each vCPU belongs to its own EMT (see `VCPURunner`).
public final class Machine: @unchecked Sendable {
    /// Three pages KVM needs for the real-mode TSS (in the MMIO hole, below the IOAPIC and LAPIC pages).
    public static let tssAddress: UInt64 = 0xfffb_d000
    /// One page KVM needs for the EPT identity map.
    public static let identityMapAddress: UInt64 = 0xfffb_c000

    public let configuration: MachineConfiguration
    public let kvm: KVMSystem
    public let vm: KVMVirtualMachine
    public let memory: GuestMemory
    /// vCPU n has KVM id n and APIC id n.
    public let vcpus: [KVMVCPU]
    /// Port and MMIO routing; frozen by `freezeIORanges()` before the first run.
    public let ioRanges: IORangeTable
    /// Hands I/O exits of every vCPU to the device handlers in `ioRanges`.
    public let dispatcher: ExitDispatcher
    /// Where devices' power-off / suspend requests made during an exit are parked for the EMT to see.
    public let pendingRequests = MachineRequests()
    /// Device timers (their thread starts with the first arm and stops with the machine).
    public let timers = DeviceTimers()
    /// What `loadPVHKernel` loaded (kept for a reset).
    public private(set) var boot: PVHBootInfo?
    private var kernel: (image: PVHKernelImage, commandLine: String)?
    /// Each vCPU's state right after creation, restored by `resetVCPU`.
    private let initialVCPUStates: [InitialVCPUState]
    /// The interrupt controllers and the PIT right after creation, restored by `resetPlatform`.
    private let initialIRQChips: [KVMIRQChipState]
    private let initialPIT: KVMPITState

    /// What a vCPU looks like at power-on (as KVM created it).
    private struct InitialVCPUState {
        let regs: KVMRegisters
        let sregs: KVMSpecialRegisters
        let fpu: KVMFPU
        let lapic: KVMLAPICState
        let events: KVMVCPUEvents
    }

    /// Creates the VM: TSS and identity-map addresses, irqchip, PIT2, RAM slots, vCPUs with CPUID.
    public init(configuration: MachineConfiguration) throws(MachineError) {
        self.configuration = configuration
        do {
            kvm = try KVMSystem(path: configuration.kvmDevicePath)
            try kvm.require(KVMCapability.requiredForMachine)
        } catch { throw .kvm(error) }
        let maximum = kvm.maximumVCPUs
        guard configuration.vcpuCount >= 1, configuration.vcpuCount <= min(maximum, 255) else {
            throw .invalidVCPUCount(requested: configuration.vcpuCount, maximum: min(maximum, 255))
        }
        do { memory = try GuestMemory(size: configuration.memorySize) } catch { throw .memory(error) }
        do {
            vm = try kvm.createVirtualMachine()
            try vm.setTSSAddress(Self.tssAddress)
            try vm.setIdentityMapAddress(Self.identityMapAddress)
            try vm.createIRQChip()
            try vm.createPIT2()
            for (slot, region) in memory.layout.regions.enumerated() {
                try vm.setUserMemoryRegion(slot: UInt32(slot), guestPhysicalAddress: region.guestPhysicalAddress,
                                           size: region.size, hostAddress: memory.hostBase + Int(region.hostOffset))
            }
            let supported = try kvm.supportedCPUID()
            var vcpus: [KVMVCPU] = []
            var states: [InitialVCPUState] = []
            for id in 0..<UInt32(configuration.vcpuCount) {
                let vcpu = try vm.createVCPU(id: id)
                try vcpu.setCPUID(Self.cpuid(supported, apicID: id, vcpuCount: UInt32(configuration.vcpuCount)))
                vcpus.append(vcpu)
                states.append(InitialVCPUState(regs: try vcpu.registers(), sregs: try vcpu.specialRegisters(),
                                               fpu: try vcpu.fpu(), lapic: try vcpu.lapic(), events: try vcpu.events()))
            }
            self.vcpus = vcpus
            self.initialVCPUStates = states
            var chips: [KVMIRQChipState] = []
            for chip in KVMVirtualMachine.IRQChip.allCases { chips.append(try vm.irqChipState(chip)) }
            self.initialIRQChips = chips
            self.initialPIT = try vm.pitState()
        } catch { throw .kvm(error) }
        ioRanges = IORangeTable()
        dispatcher = ExitDispatcher(table: ioRanges)
    }

    deinit { timers.shutdown() }

    /// The supported CPUID set with this vCPU's APIC id in leaf 1 EBX[31:24] and leaf 0xB / 0x1F EDX, and the
    /// logical processor count in leaf 1 EBX[23:16].
    public static func cpuid(_ supported: [KVMCPUIDEntry], apicID: UInt32, vcpuCount: UInt32) -> [KVMCPUIDEntry] {
        supported.map { entry in
            var e = entry
            switch e.function {
            case 1:
                e.ebx = (e.ebx & 0x0000_ffff) | ((apicID & 0xff) << 24) | ((min(vcpuCount, 255) & 0xff) << 16)
            case 0xB, 0x1F:
                e.edx = apicID
            default:
                break
            }
            return e
        }
    }

    /// Loads a PVH kernel and puts the BSP (vCPU 0) at its entry; the APs wait for INIT/SIPI.
    @discardableResult
    public func loadPVHKernel(path: String, commandLine: String) throws(MachineError) -> PVHBootInfo {
        let elf: ELFFile
        do { elf = try ELFFile(path: path) } catch { throw .load(.invalidELF(error)) }
        return try load(elf, commandLine: commandLine)
    }

    private func load(_ elf: ELFFile, commandLine: String) throws(MachineError) -> PVHBootInfo {
        let info: PVHBootInfo
        let image: PVHKernelImage
        do {
            let loader = PVHLoader(memory: memory)
            image = try loader.image(of: elf)
            info = try loader.load(image, commandLine: commandLine)
        } catch { throw .load(error) }
        kernel = (image, commandLine)
        boot = info
        try resetVCPU(0)
        return info
    }

    /// Puts vCPU `index` into its power-on state: the registers, FPU, local APIC and pending events KVM created it
    /// with, then the BSP at the PVH entry (when a kernel is loaded) or an AP into wait-for-SIPI. Call on the
    /// vCPU's own thread once EMTs run.
    public func resetVCPU(_ index: Int) throws(MachineError) {
        guard vcpus.indices.contains(index) else {
            throw .invalidVCPUCount(requested: index + 1, maximum: vcpus.count)
        }
        do {
            let vcpu = vcpus[index]
            let initial = initialVCPUStates[index]
            try vcpu.setRegisters(initial.regs)
            try vcpu.setSpecialRegisters(initial.sregs)
            try vcpu.setFPU(initial.fpu)
            try vcpu.setLAPIC(initial.lapic)
            try vcpu.setEvents(initial.events)
            if index == 0 {
                if let boot { try PVHLoader.configureBootProcessor(vcpus[0], boot: boot) }
            } else {
                try vcpus[index].setMPState(.uninitialized)
            }
        } catch { throw .kvm(error) }
    }

    /// Reloads the kernel image and boot data into RAM (for a VM reset: the guest may have overwritten them), from
    /// the image read at boot: a kernel file changed since does not reach a running VM. vCPU state is reset
    /// separately by `resetVCPU` on each EMT.
    public func reloadKernel() throws(MachineError) {
        guard let kernel else { return }
        do {
            boot = try PVHLoader(memory: memory).load(kernel.image, commandLine: kernel.commandLine)
        } catch { throw .load(error) }
    }

    /// The machine-wide part of a reset: the interrupt controllers and the PIT back to their power-on state, and
    /// the kernel image and boot data reloaded. vCPUs are reset separately (`resetVCPU`, on each EMT).
    public func resetPlatform() throws(MachineError) {
        do {
            for chip in initialIRQChips { try vm.setIRQChipState(chip) }
            try vm.setPITState(initialPIT)
        } catch { throw .kvm(error) }
        try reloadKernel()
    }

    /// Freezes the I/O range table; no registration after this. Call before the first `KVM_RUN`.
    public func freezeIORanges() { ioRanges.freeze() }

    /// A runner for vCPU `index` (one per EMT). Freezes the I/O range table (registration is over once vCPUs
    /// are about to run).
    public func runner(forVCPU index: Int) -> VCPURunner? {
        guard vcpus.indices.contains(index) else { return nil }
        ioRanges.freeze()
        return VCPURunner(machine: self, index: index)
    }
}
