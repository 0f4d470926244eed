import CKVM

/// A KVM capability number (`KVM_CAP_*`) as used with `KVM_CHECK_EXTENSION`.
public struct KVMCapability: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public let name: String

    public init(rawValue: Int32) {
        self.rawValue = rawValue
        self.name = "KVM_CAP #\(rawValue)"
    }

    public init(_ rawValue: Int32, name: String) {
        self.rawValue = rawValue
        self.name = name
    }

    public static func == (a: KVMCapability, b: KVMCapability) -> Bool { a.rawValue == b.rawValue }
    public func hash(into h: inout Hasher) { h.combine(rawValue) }
    public var description: String { "\(name) (\(rawValue))" }

    public static let irqchip = KVMCapability(KVM_CAP_IRQCHIP, name: "KVM_CAP_IRQCHIP")
    public static let hlt = KVMCapability(KVM_CAP_HLT, name: "KVM_CAP_HLT")
    public static let userMemory = KVMCapability(KVM_CAP_USER_MEMORY, name: "KVM_CAP_USER_MEMORY")
    public static let setTSSAddress = KVMCapability(KVM_CAP_SET_TSS_ADDR, name: "KVM_CAP_SET_TSS_ADDR")
    public static let setIdentityMapAddress = KVMCapability(
        KVM_CAP_SET_IDENTITY_MAP_ADDR, name: "KVM_CAP_SET_IDENTITY_MAP_ADDR")
    public static let extCPUID = KVMCapability(KVM_CAP_EXT_CPUID, name: "KVM_CAP_EXT_CPUID")
    public static let pit2 = KVMCapability(KVM_CAP_PIT2, name: "KVM_CAP_PIT2")
    public static let irqLine = KVMCapability(KVM_CAP_IRQ_INJECT_STATUS, name: "KVM_CAP_IRQ_INJECT_STATUS")
    public static let ioeventfd = KVMCapability(KVM_CAP_IOEVENTFD, name: "KVM_CAP_IOEVENTFD")
    public static let irqfd = KVMCapability(KVM_CAP_IRQFD, name: "KVM_CAP_IRQFD")
    public static let immediateExit = KVMCapability(KVM_CAP_IMMEDIATE_EXIT, name: "KVM_CAP_IMMEDIATE_EXIT")
    public static let mpState = KVMCapability(KVM_CAP_MP_STATE, name: "KVM_CAP_MP_STATE")
    public static let nrVCPUs = KVMCapability(KVM_CAP_NR_VCPUS, name: "KVM_CAP_NR_VCPUS")
    public static let maxVCPUs = KVMCapability(KVM_CAP_MAX_VCPUS, name: "KVM_CAP_MAX_VCPUS")
    public static let nrMemorySlots = KVMCapability(KVM_CAP_NR_MEMSLOTS, name: "KVM_CAP_NR_MEMSLOTS")
    public static let internalErrorData = KVMCapability(
        KVM_CAP_INTERNAL_ERROR_DATA, name: "KVM_CAP_INTERNAL_ERROR_DATA")

    /// What `Machine` needs from KVM; `KVMSystem.requireCapabilities` checks them all.
    public static let requiredForMachine: [KVMCapability] = [
        .userMemory, .irqchip, .setTSSAddress, .setIdentityMapAddress, .pit2, .extCPUID, .immediateExit, .mpState,
    ]
}
