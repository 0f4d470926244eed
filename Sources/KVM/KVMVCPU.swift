import CKVM
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// General-purpose registers (`struct kvm_regs`).
public typealias KVMRegisters = kvm_regs
/// Segment, control and descriptor-table registers (`struct kvm_sregs`).
public typealias KVMSpecialRegisters = kvm_sregs
/// One segment register (`struct kvm_segment`).
public typealias KVMSegment = kvm_segment
/// FPU/SSE state (`struct kvm_fpu`).
public typealias KVMFPU = kvm_fpu
/// The local APIC register page (`struct kvm_lapic_state`).
public typealias KVMLAPICState = kvm_lapic_state
/// Pending exceptions, interrupts and NMIs (`struct kvm_vcpu_events`).
public typealias KVMVCPUEvents = kvm_vcpu_events

/// Multiprocessing state of a vCPU (`KVM_MP_STATE_*`).
public struct KVMMPState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let runnable = KVMMPState(rawValue: UInt32(KVM_MP_STATE_RUNNABLE))
    /// An AP waiting for INIT/SIPI.
    public static let uninitialized = KVMMPState(rawValue: UInt32(KVM_MP_STATE_UNINITIALIZED))
    public static let initReceived = KVMMPState(rawValue: UInt32(KVM_MP_STATE_INIT_RECEIVED))
    public static let halted = KVMMPState(rawValue: UInt32(KVM_MP_STATE_HALTED))
    public static let sipiReceived = KVMMPState(rawValue: UInt32(KVM_MP_STATE_SIPI_RECEIVED))

    public var description: String {
        switch self {
        case .runnable: return "runnable"
        case .uninitialized: return "uninitialized"
        case .initReceived: return "init-received"
        case .halted: return "halted"
        case .sipiReceived: return "sipi-received"
        default: return "mp-state \(rawValue)"
        }
    }
}

/// What one `KVM_RUN` call did.
public enum KVMRunStatus: Sendable, Equatable {
    /// The guest exited; read `KVMVCPU.runState.exitReason`.
    case exited
    /// `KVM_RUN` returned `EINTR`: a signal arrived or `immediate_exit` was set. No exit to handle.
    case interrupted
}

/// One virtual CPU: its descriptor and its mapped `kvm_run` area.
///
/// `run()` and the register accessors belong to the thread that runs this vCPU (its EMT). Any thread may set
/// `runState.immediateExit` to kick it.
public final class KVMVCPU: @unchecked Sendable {
    /// The vCPU id given to `KVM_CREATE_VCPU` (also its initial APIC id).
    public let id: UInt32
    /// The VM this vCPU belongs to (kept alive while the vCPU exists).
    public let vm: KVMVirtualMachine
    /// The vCPU descriptor (closed on deinit).
    public let fileDescriptor: FileDescriptor
    /// The `kvm_run` mapping.
    public let runState: KVMRun
    private let mapSize: Int

    init(id: UInt32, vm: KVMVirtualMachine, fileDescriptor: FileDescriptor, runMapping: UnsafeMutableRawPointer,
         mapSize: Int) {
        self.id = id
        self.vm = vm
        self.fileDescriptor = fileDescriptor
        self.runState = KVMRun(pointer: runMapping.assumingMemoryBound(to: kvm_run.self))
        self.mapSize = mapSize
    }

    deinit {
        munmap(UnsafeMutableRawPointer(runState.pointer), mapSize)
        _ = try? fileDescriptor.close()
    }

    /// `KVM_RUN`: enters the guest until the next exit. `EINTR` (a signal or `immediate_exit`) returns
    /// `.interrupted`; any other failure throws. Allocates nothing on the success paths.
    @inline(__always)
    public func run() throws(KVMError) -> KVMRunStatus {
        if ckvm_run(fileDescriptor.rawValue) == 0 { return .exited }
        let e = errno
        if e == EINTR || e == EAGAIN { return .interrupted }
        throw KVMError.ioctlFailed(operation: "KVM_RUN vCPU \(id)", errno: Errno(rawValue: e))
    }

    private func getStruct<T: BitwiseCopyable>(_ request: UInt, _ name: @autoclosure () -> String, _ initial: T) throws(KVMError) -> T {
        var value = initial
        let r = ckvm_ioctl_ptr(fileDescriptor.rawValue, request, &value)
        _ = try KVMError.check(r, name())
        return value
    }

    private func setStruct<T: BitwiseCopyable>(_ request: UInt, _ name: @autoclosure () -> String, _ value: T) throws(KVMError) {
        var v = value
        let r = ckvm_ioctl_ptr(fileDescriptor.rawValue, request, &v)
        _ = try KVMError.check(r, name())
    }

    /// `KVM_GET_REGS`.
    public func registers() throws(KVMError) -> KVMRegisters {
        try getStruct(ckvm_req_get_regs(), "KVM_GET_REGS vCPU \(id)", kvm_regs())
    }

    /// `KVM_SET_REGS`.
    public func setRegisters(_ regs: KVMRegisters) throws(KVMError) {
        try setStruct(ckvm_req_set_regs(), "KVM_SET_REGS vCPU \(id)", regs)
    }

    /// `KVM_GET_SREGS`.
    public func specialRegisters() throws(KVMError) -> KVMSpecialRegisters {
        try getStruct(ckvm_req_get_sregs(), "KVM_GET_SREGS vCPU \(id)", kvm_sregs())
    }

    /// `KVM_SET_SREGS`.
    public func setSpecialRegisters(_ sregs: KVMSpecialRegisters) throws(KVMError) {
        try setStruct(ckvm_req_set_sregs(), "KVM_SET_SREGS vCPU \(id)", sregs)
    }

    /// `KVM_GET_FPU`.
    public func fpu() throws(KVMError) -> KVMFPU {
        try getStruct(ckvm_req_get_fpu(), "KVM_GET_FPU vCPU \(id)", kvm_fpu())
    }

    /// `KVM_SET_FPU`.
    public func setFPU(_ fpu: KVMFPU) throws(KVMError) {
        try setStruct(ckvm_req_set_fpu(), "KVM_SET_FPU vCPU \(id)", fpu)
    }

    /// `KVM_GET_LAPIC`.
    public func lapic() throws(KVMError) -> KVMLAPICState {
        try getStruct(ckvm_req_get_lapic(), "KVM_GET_LAPIC vCPU \(id)", kvm_lapic_state())
    }

    /// `KVM_SET_LAPIC`.
    public func setLAPIC(_ state: KVMLAPICState) throws(KVMError) {
        try setStruct(ckvm_req_set_lapic(), "KVM_SET_LAPIC vCPU \(id)", state)
    }

    /// `KVM_GET_VCPU_EVENTS`.
    public func events() throws(KVMError) -> KVMVCPUEvents {
        try getStruct(ckvm_req_get_vcpu_events(), "KVM_GET_VCPU_EVENTS vCPU \(id)", kvm_vcpu_events())
    }

    /// `KVM_SET_VCPU_EVENTS`.
    public func setEvents(_ events: KVMVCPUEvents) throws(KVMError) {
        try setStruct(ckvm_req_set_vcpu_events(), "KVM_SET_VCPU_EVENTS vCPU \(id)", events)
    }

    /// `KVM_GET_MP_STATE`.
    public func mpState() throws(KVMError) -> KVMMPState {
        let s = try getStruct(ckvm_req_get_mp_state(), "KVM_GET_MP_STATE vCPU \(id)", kvm_mp_state())
        return KVMMPState(rawValue: s.mp_state)
    }

    /// `KVM_SET_MP_STATE`.
    public func setMPState(_ state: KVMMPState) throws(KVMError) {
        var s = kvm_mp_state()
        s.mp_state = state.rawValue
        try setStruct(ckvm_req_set_mp_state(), "KVM_SET_MP_STATE vCPU \(id) \(state)", s)
    }

    /// `KVM_SET_CPUID2`: the CPUID leaves this vCPU reports.
    public func setCPUID(_ entries: [KVMCPUIDEntry]) throws(KVMError) {
        guard let buffer = ckvm_cpuid2_alloc(UInt32(entries.count)) else {
            throw .outOfMemory(operation: "KVM_SET_CPUID2 vCPU \(id)")
        }
        defer { free(buffer) }
        for (i, e) in entries.enumerated() { ckvm_cpuid2_entry(buffer, UInt32(i)).pointee = e.cValue }
        _ = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_set_cpuid2(), buffer), "KVM_SET_CPUID2 vCPU \(id)")
    }

    /// `KVM_GET_MSRS`: the values of `indices`, in order. Throws if KVM could not read all of them.
    public func msrs(_ indices: [UInt32]) throws(KVMError) -> [UInt64] {
        guard let buffer = ckvm_msrs_alloc(UInt32(indices.count)) else {
            throw .outOfMemory(operation: "KVM_GET_MSRS vCPU \(id)")
        }
        defer { free(buffer) }
        for (i, index) in indices.enumerated() { ckvm_msrs_entry(buffer, UInt32(i)).pointee.index = index }
        let n = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_get_msrs(), buffer), "KVM_GET_MSRS vCPU \(id)")
        guard Int(n) == indices.count else {
            throw .invalidArgument(operation: "KVM_GET_MSRS vCPU \(id)",
                                   reason: "MSR 0x\(String(indices[Int(n)], radix: 16)) is not readable")
        }
        return (0..<UInt32(indices.count)).map { ckvm_msrs_entry(buffer, $0).pointee.data }
    }

    /// `KVM_SET_MSRS`: writes each (index, value). Throws if KVM did not accept all of them.
    public func setMSRs(_ values: [(index: UInt32, value: UInt64)]) throws(KVMError) {
        guard let buffer = ckvm_msrs_alloc(UInt32(values.count)) else {
            throw .outOfMemory(operation: "KVM_SET_MSRS vCPU \(id)")
        }
        defer { free(buffer) }
        for (i, v) in values.enumerated() {
            let e = ckvm_msrs_entry(buffer, UInt32(i))
            e.pointee.index = v.index
            e.pointee.data = v.value
        }
        let n = try KVMError.check(
            ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_set_msrs(), buffer), "KVM_SET_MSRS vCPU \(id)")
        guard Int(n) == values.count else {
            throw .invalidArgument(operation: "KVM_SET_MSRS vCPU \(id)",
                                   reason: "MSR 0x\(String(values[Int(n)].index, radix: 16)) was refused")
        }
    }
}
