import CKVM
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The KVM subsystem: an open `/dev/kvm`. Queries capabilities and creates virtual machines.
///
/// Immutable after creation; safe to share between threads.
public final class KVMSystem: Sendable {
    /// The device path this system was opened from.
    public let path: String
    /// The open `/dev/kvm` descriptor (closed on deinit).
    public let fileDescriptor: FileDescriptor
    /// `KVM_GET_API_VERSION` (always 12 when `init` succeeded).
    public let apiVersion: Int32
    /// Size of the per-vCPU `kvm_run` mapping (`KVM_GET_VCPU_MMAP_SIZE`).
    public let vcpuMmapSize: Int

    /// Opens the KVM device (default `/dev/kvm`) and checks the API version.
    /// - Throws: `.deviceMissing`, `.permissionDenied`, `.openFailed`, `.unsupportedAPIVersion`, `.ioctlFailed`.
    public init(path: String = "/dev/kvm") throws(KVMError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 {
            let e = Errno(rawValue: errno)
            switch e {
            case .noSuchFileOrDirectory, .noSuchAddressOrDevice, Errno(rawValue: ENODEV):
                throw .deviceMissing(path: path)
            case .permissionDenied, .notPermitted:
                throw .permissionDenied(path: path)
            default:
                throw .openFailed(path: path, errno: e)
            }
        }
        let descriptor = FileDescriptor(rawValue: fd)
        do throws(KVMError) {
            let version = try KVMError.check(ckvm_ioctl_val(fd, ckvm_req_get_api_version(), 0), "KVM_GET_API_VERSION")
            if version != KVM_API_VERSION { throw KVMError.unsupportedAPIVersion(version) }
            let size = try KVMError.check(
                ckvm_ioctl_val(fd, ckvm_req_get_vcpu_mmap_size(), 0), "KVM_GET_VCPU_MMAP_SIZE")
            self.apiVersion = version
            self.vcpuMmapSize = Int(size)
        } catch {
            _ = try? descriptor.close()
            throw error
        }
        self.fileDescriptor = descriptor
    }

    deinit { _ = try? fileDescriptor.close() }

    /// `KVM_CHECK_EXTENSION` on the system descriptor: 0 when absent, otherwise a capability-specific value.
    public func checkExtension(_ capability: KVMCapability) throws(KVMError) -> Int32 {
        try KVMError.check(
            ckvm_ioctl_val(fileDescriptor.rawValue, ckvm_req_check_extension(), UInt(bitPattern: Int(capability.rawValue))),
            "KVM_CHECK_EXTENSION \(capability)")
    }

    /// True when the capability is present (non-zero).
    public func has(_ capability: KVMCapability) -> Bool {
        ((try? checkExtension(capability)) ?? 0) > 0
    }

    /// Throws `.missingCapability` naming the first capability in `capabilities` that KVM lacks.
    public func require(_ capabilities: [KVMCapability]) throws(KVMError) {
        for cap in capabilities where !has(cap) { throw .missingCapability(cap) }
    }

    /// Recommended maximum number of vCPUs per VM (`KVM_CAP_NR_VCPUS`, at least 4 per the API when absent).
    public var recommendedVCPUs: Int {
        let n = (try? checkExtension(.nrVCPUs)) ?? 0
        return n > 0 ? Int(n) : 4
    }

    /// Hard maximum number of vCPUs per VM (`KVM_CAP_MAX_VCPUS`, falling back to the recommended number).
    public var maximumVCPUs: Int {
        let n = (try? checkExtension(.maxVCPUs)) ?? 0
        return n > 0 ? Int(n) : recommendedVCPUs
    }

    /// `KVM_GET_SUPPORTED_CPUID`: every CPUID leaf KVM can expose to a guest.
    public func supportedCPUID() throws(KVMError) -> [KVMCPUIDEntry] {
        var capacity: UInt32 = 128
        while true {
            guard let buffer = ckvm_cpuid2_alloc(capacity) else {
                throw .outOfMemory(operation: "KVM_GET_SUPPORTED_CPUID")
            }
            defer { free(buffer) }
            let r = ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_get_supported_cpuid(), buffer)
            if r < 0 && errno == E2BIG && capacity < 4096 {
                capacity *= 2
                continue
            }
            _ = try KVMError.check(r, "KVM_GET_SUPPORTED_CPUID")
            let n = buffer.pointee.nent
            var entries: [KVMCPUIDEntry] = []
            entries.reserveCapacity(Int(n))
            for i in 0..<n { entries.append(KVMCPUIDEntry(ckvm_cpuid2_entry(buffer, i).pointee)) }
            return entries
        }
    }

    /// `KVM_GET_MSR_INDEX_LIST`: the MSRs `KVMVCPU.getMSRs` may read.
    public func msrIndexList() throws(KVMError) -> [UInt32] {
        var capacity: UInt32 = 256
        while true {
            guard let list = ckvm_msr_list_alloc(capacity) else {
                throw .outOfMemory(operation: "KVM_GET_MSR_INDEX_LIST")
            }
            defer { free(list) }
            let r = ckvm_ioctl_ptr(fileDescriptor.rawValue, ckvm_req_get_msr_index_list(), list)
            if r < 0 && errno == E2BIG && capacity < 65536 {
                capacity = max(capacity * 2, list.pointee.nmsrs)
                continue
            }
            _ = try KVMError.check(r, "KVM_GET_MSR_INDEX_LIST")
            return (0..<list.pointee.nmsrs).map { ckvm_msr_list_index(list, $0) }
        }
    }

    /// `KVM_CREATE_VM` (default machine type).
    public func createVirtualMachine() throws(KVMError) -> KVMVirtualMachine {
        let fd = try KVMError.check(ckvm_ioctl_val(fileDescriptor.rawValue, ckvm_req_create_vm(), 0), "KVM_CREATE_VM")
        return KVMVirtualMachine(system: self, fileDescriptor: FileDescriptor(rawValue: fd))
    }
}
