import CKVM
import Glibc
import Synchronization

/// Milestones of one `vmhost` process's boot, in milliseconds since process start, as `GET /vm` reports them.
///
/// The origin of `BootTimeline.process` is the executable's first initializer (a C constructor in the KVM shim):
/// it runs before Swift's `main`, so argument parsing and everything after are on the timeline; exec, the dynamic
/// loader and the libraries' own initializers (libswiftCore's among them) come before it (`vmhost-bench api`
/// measures the whole from outside, from `posix_spawn`). A timeline made with `init()` starts now.
/// Each milestone is recorded once (the first `mark` wins); `mark` is a single atomic load once set, so the
/// VMM may call it on a hot path (first `KVM_RUN`, first serial byte).
public final class BootTimeline: @unchecked Sendable {
    /// A recorded moment of the boot.
    public enum Milestone: Int, Sendable, CaseIterable, CustomStringConvertible {
        /// Process start (the origin: always 0).
        case processStart
        /// The command line was parsed (`vmhost run` started).
        case argumentsParsed
        /// The VM configuration was read and validated.
        case configurationLoaded
        /// The plugins were loaded (registry filled).
        case pluginsLoaded
        /// The control API socket accepts connections.
        case apiSocketReady
        /// The first `KVM_RUN` of any vCPU.
        case firstKVMRun
        /// The guest wrote its first byte to the serial port.
        case firstSerialByte

        /// The JSON key of the milestone in `GET /vm` (`boot_timeline`).
        public var description: String {
            switch self {
            case .processStart: return "process_start_ms"
            case .argumentsParsed: return "arguments_parsed_ms"
            case .configurationLoaded: return "configuration_loaded_ms"
            case .pluginsLoaded: return "plugins_loaded_ms"
            case .apiSocketReady: return "api_socket_ready_ms"
            case .firstKVMRun: return "first_kvm_run_ms"
            case .firstSerialByte: return "first_serial_byte_ms"
            }
        }
    }

    /// The timeline of this process.
    public static let process = BootTimeline(originNanoseconds: ckvm_process_start_ns())

    private let originNanoseconds: UInt64
    // Nanoseconds since the origin + 1 per milestone (0 = not reached yet).
    private let argumentsParsed = Atomic<UInt64>(0)
    private let configurationLoaded = Atomic<UInt64>(0)
    private let pluginsLoaded = Atomic<UInt64>(0)
    private let apiSocketReady = Atomic<UInt64>(0)
    private let firstKVMRun = Atomic<UInt64>(0)
    private let firstSerialByte = Atomic<UInt64>(0)

    /// A timeline whose origin is now (tests may make their own; the process uses `process`).
    public init() {
        originNanoseconds = BootTimeline.monotonicNanoseconds()
    }

    /// A timeline whose origin is `originNanoseconds` (CLOCK_MONOTONIC), or now if that is 0 or in the future.
    init(originNanoseconds: UInt64) {
        let now = BootTimeline.monotonicNanoseconds()
        self.originNanoseconds = originNanoseconds == 0 || originNanoseconds > now ? now : originNanoseconds
    }

    /// Records `milestone` now unless it was recorded before.
    @inline(__always)
    public func mark(_ milestone: Milestone) {
        withSlot(milestone) { slot in
            guard slot.load(ordering: .relaxed) == 0 else { return }
            let now = BootTimeline.monotonicNanoseconds() &- originNanoseconds &+ 1
            _ = slot.compareExchange(expected: 0, desired: now, ordering: .relaxed)
        }
    }

    @inline(__always)
    private func withSlot(_ milestone: Milestone, _ body: (borrowing Atomic<UInt64>) -> Void) {
        switch milestone {
        case .processStart: return
        case .argumentsParsed: body(argumentsParsed)
        case .configurationLoaded: body(configurationLoaded)
        case .pluginsLoaded: body(pluginsLoaded)
        case .apiSocketReady: body(apiSocketReady)
        case .firstKVMRun: body(firstKVMRun)
        case .firstSerialByte: body(firstSerialByte)
        }
    }

    /// Milliseconds since the origin at which `milestone` was reached, nil if not yet.
    public func milliseconds(_ milestone: Milestone) -> Double? {
        if milestone == .processStart { return 0 }
        var raw: UInt64 = 0
        withSlot(milestone) { raw = $0.load(ordering: .relaxed) }
        guard raw != 0 else { return nil }
        return Double(raw - 1) / 1_000_000
    }

    /// Milliseconds since the origin, now.
    public func nowMilliseconds() -> Double {
        Double(BootTimeline.monotonicNanoseconds() &- originNanoseconds) / 1_000_000
    }

    /// Every milestone reached so far, in milestone order.
    public func snapshot() -> [(Milestone, Double)] {
        Milestone.allCases.compactMap { m in milliseconds(m).map { (m, $0) } }
    }

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
