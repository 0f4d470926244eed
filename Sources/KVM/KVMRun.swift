import CKVM

/// Why `KVM_RUN` returned to user space (`kvm_run.exit_reason`).
public struct KVMExitReason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let unknown = KVMExitReason(rawValue: UInt32(KVM_EXIT_UNKNOWN))
    public static let exception = KVMExitReason(rawValue: UInt32(KVM_EXIT_EXCEPTION))
    public static let io = KVMExitReason(rawValue: UInt32(KVM_EXIT_IO))
    public static let hypercall = KVMExitReason(rawValue: UInt32(KVM_EXIT_HYPERCALL))
    public static let debug = KVMExitReason(rawValue: UInt32(KVM_EXIT_DEBUG))
    public static let hlt = KVMExitReason(rawValue: UInt32(KVM_EXIT_HLT))
    public static let mmio = KVMExitReason(rawValue: UInt32(KVM_EXIT_MMIO))
    public static let irqWindowOpen = KVMExitReason(rawValue: UInt32(KVM_EXIT_IRQ_WINDOW_OPEN))
    public static let shutdown = KVMExitReason(rawValue: UInt32(KVM_EXIT_SHUTDOWN))
    public static let failEntry = KVMExitReason(rawValue: UInt32(KVM_EXIT_FAIL_ENTRY))
    public static let intr = KVMExitReason(rawValue: UInt32(KVM_EXIT_INTR))
    public static let internalError = KVMExitReason(rawValue: UInt32(KVM_EXIT_INTERNAL_ERROR))
    public static let systemEvent = KVMExitReason(rawValue: UInt32(KVM_EXIT_SYSTEM_EVENT))

    public var description: String {
        switch self {
        case .unknown: return "UNKNOWN"
        case .exception: return "EXCEPTION"
        case .io: return "IO"
        case .hypercall: return "HYPERCALL"
        case .debug: return "DEBUG"
        case .hlt: return "HLT"
        case .mmio: return "MMIO"
        case .irqWindowOpen: return "IRQ_WINDOW_OPEN"
        case .shutdown: return "SHUTDOWN"
        case .failEntry: return "FAIL_ENTRY"
        case .intr: return "INTR"
        case .internalError: return "INTERNAL_ERROR"
        case .systemEvent: return "SYSTEM_EVENT"
        default: return "exit reason \(rawValue)"
        }
    }
}

/// A port I/O exit (`KVM_EXIT_IO`): `count` accesses of `size` bytes each at `port`, their data packed at `data`
/// inside the `kvm_run` mapping (filled by the VMM for `.in`, filled by KVM for `.out`).
public struct KVMIOExit: Sendable {
    public enum Direction: UInt8, Sendable { case `in` = 0, out = 1 }
    public let direction: Direction
    /// Bytes per access: 1, 2 or 4.
    public let size: UInt32
    public let port: UInt16
    /// Number of accesses (> 1 for `rep ins/outs`).
    public let count: UInt32
    /// `count * size` bytes of data in the `kvm_run` mapping.
    public nonisolated(unsafe) let data: UnsafeMutableRawPointer

    /// An exit description over `data` (KVM makes these; tests and benchmarks may too).
    public init(direction: Direction, size: UInt32, port: UInt16, count: UInt32, data: UnsafeMutableRawPointer) {
        self.direction = direction
        self.size = size
        self.port = port
        self.count = count
        self.data = data
    }
}

/// An MMIO exit (`KVM_EXIT_MMIO`): one access of `length` (1..8) bytes at `physicalAddress`; `data` holds the
/// written bytes, or receives the read bytes.
public struct KVMMMIOExit: Sendable {
    public let physicalAddress: UInt64
    public let length: UInt32
    public let isWrite: Bool
    /// 8 bytes inside the `kvm_run` mapping.
    public nonisolated(unsafe) let data: UnsafeMutableRawPointer

    /// An exit description over `data` (at least 8 bytes).
    public init(physicalAddress: UInt64, length: UInt32, isWrite: Bool, data: UnsafeMutableRawPointer) {
        self.physicalAddress = physicalAddress
        self.length = length
        self.isWrite = isWrite
        self.data = data
    }
}

/// `KVM_EXIT_INTERNAL_ERROR` details.
public struct KVMInternalError: Sendable, CustomStringConvertible {
    /// `KVM_INTERNAL_ERROR_*` (1 emulation, 2 simultaneous exceptions, 3 delivery event, 4 unexpected exit).
    public let suberror: UInt32
    public let data: [UInt64]

    public var description: String {
        let kind: String
        switch suberror {
        case UInt32(KVM_INTERNAL_ERROR_EMULATION): kind = "emulation failure"
        case UInt32(KVM_INTERNAL_ERROR_SIMUL_EX): kind = "simultaneous exceptions"
        case UInt32(KVM_INTERNAL_ERROR_DELIVERY_EV): kind = "exit during event delivery"
        case UInt32(KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON): kind = "unexpected exit reason"
        default: kind = "suberror \(suberror)"
        }
        let words = data.map { "0x" + String($0, radix: 16) }.joined(separator: " ")
        return data.isEmpty ? "internal error: \(kind)" : "internal error: \(kind) [\(words)]"
    }
}

/// The mapped `kvm_run` area of one vCPU: typed access to the exit reason and its payload, and `immediate_exit`.
///
/// Only the vCPU's own thread reads exits; any thread may set `immediateExit` (the kick path).
public struct KVMRun: @unchecked Sendable {
    /// Start of the mapping.
    public let pointer: UnsafeMutablePointer<kvm_run>

    public init(pointer: UnsafeMutablePointer<kvm_run>) { self.pointer = pointer }

    /// Why the last `KVM_RUN` returned.
    @inline(__always)
    public var exitReason: KVMExitReason { KVMExitReason(rawValue: ckvm_run_exit_reason(pointer)) }

    /// `kvm_run.immediate_exit`: when set, the next `KVM_RUN` returns `EINTR` at once. Atomic store.
    @inline(__always)
    public var immediateExit: Bool {
        get { ckvm_run_immediate_exit(pointer) != 0 }
        nonmutating set { ckvm_run_set_immediate_exit(pointer, newValue ? 1 : 0) }
    }

    /// `kvm_run.if_flag`: the guest's RFLAGS.IF at exit.
    public var interruptFlag: Bool { ckvm_run_if_flag(pointer) != 0 }

    /// The payload of a `.io` exit (meaningful only when `exitReason == .io`).
    @inline(__always)
    public var io: KVMIOExit {
        KVMIOExit(
            direction: ckvm_run_io_direction(pointer) == UInt8(KVM_EXIT_IO_OUT) ? .out : .in,
            size: UInt32(ckvm_run_io_size(pointer)),
            port: ckvm_run_io_port(pointer),
            count: ckvm_run_io_count(pointer),
            data: UnsafeMutableRawPointer(pointer) + Int(truncatingIfNeeded: ckvm_run_io_data_offset(pointer)))
    }

    /// The payload of a `.mmio` exit (meaningful only when `exitReason == .mmio`).
    @inline(__always)
    public var mmio: KVMMMIOExit {
        KVMMMIOExit(
            physicalAddress: ckvm_run_mmio_phys_addr(pointer),
            length: ckvm_run_mmio_len(pointer),
            isWrite: ckvm_run_mmio_is_write(pointer) != 0,
            data: UnsafeMutableRawPointer(ckvm_run_mmio_data(pointer)))
    }

    /// The payload of an `.internalError` exit.
    public var internalError: KVMInternalError {
        let n = min(ckvm_run_internal_ndata(pointer), 16)
        return KVMInternalError(
            suberror: ckvm_run_internal_suberror(pointer),
            data: (0..<n).map { ckvm_run_internal_data(pointer, $0) })
    }

    /// The hardware reason of a `.failEntry` exit.
    public var failEntryReason: UInt64 { ckvm_run_fail_entry_reason(pointer) }
    /// The host CPU of a `.failEntry` exit.
    public var failEntryCPU: UInt32 { ckvm_run_fail_entry_cpu(pointer) }
    /// The hardware reason of an `.unknown` exit.
    public var hardwareExitReason: UInt64 { ckvm_run_hw_exit_reason(pointer) }
    /// The `KVM_SYSTEM_EVENT_*` type of a `.systemEvent` exit.
    public var systemEventType: UInt32 { ckvm_run_system_event_type(pointer) }
    /// Vector and error code of an `.exception` exit.
    public var exception: (vector: UInt32, errorCode: UInt32) {
        (ckvm_run_ex_exception(pointer), ckvm_run_ex_error_code(pointer))
    }
}
