import CVMHostABI
import PDM
import Synchronization

/// A fake VMM for plugin tests: implements `VMMServices` by recording every port/MMIO registration, IRQ change,
/// timer and power request, and backs `physRead`/`physWrite` with a byte-array guest RAM. Drive the registered
/// ranges with `portIn`/`portOut`/`mmioRead`/`mmioWrite` (each call takes the device's lock, as the real VMM does).
public final class RecordingVMM: VMMServices, @unchecked Sendable {
    /// A registered port range.
    public struct PortRange: @unchecked Sendable {
        /// The device that registered it.
        public let device: DeviceInstance
        /// First port.
        public let port: UInt16
        /// Number of ports.
        public let count: UInt16
        /// The plugin's user pointer, passed back to the handlers.
        public let user: UnsafeMutableRawPointer?
        /// Read handler (nil: reads give all-ones).
        public let inHandler: VMHIoPortIn?
        /// Write handler (nil: writes are dropped).
        public let outHandler: VMHIoPortOut?
        /// The plugin's description of the range or timer.
        public let description: String

        /// True when `p` lies in the range.
        public func contains(_ p: UInt16) -> Bool { p >= port && Int(p) < Int(port) + Int(count) }
    }

    /// A registered MMIO range.
    public struct MMIORange: @unchecked Sendable {
        /// The device that registered it.
        public let device: DeviceInstance
        /// Guest-physical base.
        public let gpa: UInt64
        /// Length in bytes.
        public let size: UInt64
        /// The plugin's user pointer, passed back to the handlers.
        public let user: UnsafeMutableRawPointer?
        /// Read handler (nil: reads give all-ones).
        public let readHandler: VMHMmioRead?
        /// Write handler (nil: writes are dropped).
        public let writeHandler: VMHMmioWrite?
        /// The plugin's description of the range or timer.
        public let description: String

        /// True when `address` lies in the range.
        public func contains(_ address: UInt64) -> Bool { address >= gpa && address - gpa < size }
    }

    /// One change of an interrupt line.
    public struct IRQEvent: Sendable, Equatable {
        /// Instance name of the device that changed the line.
        public let device: String
        /// Interrupt line.
        public let irq: UInt32
        /// New level (0 or 1).
        public let level: Int32

        /// An IRQ event (for comparisons in tests).
        public init(device: String, irq: UInt32, level: Int32) {
            self.device = device
            self.irq = irq
            self.level = level
        }
    }

    /// A timer a device created.
    public struct Timer: @unchecked Sendable {
        /// The device that registered it.
        public let device: DeviceInstance
        /// The plugin's timer callback.
        public let callback: VMHTimerCallback
        /// The plugin's user pointer, passed back to the handlers.
        public let user: UnsafeMutableRawPointer?
        /// The plugin's description of the range or timer.
        public let description: String
        /// Nanoseconds of the last relative arm (`timerArm`), nil when stopped or armed with `timerArmAt`.
        public var armedNanoseconds: UInt64?
        /// Device-clock deadline of the last arm (either helper), nil when stopped or fired.
        public var deadline: UInt64?
        /// Bumped by every arm, stop and firing (so a firing chosen before a stop is not delivered).
        var generation: UInt64 = 0
    }

    struct State {
        var ports: [PortRange] = []
        var mmio: [MMIORange] = []
        var irqs: [IRQEvent] = []
        var timers: [Timer] = []
        var powerOffRequests: [(device: String, exitStatus: Int32)] = []
        var suspendRequests: [(device: String, reason: Int32)] = []
        var ram: [UInt8]
        var deviceClock: UInt64 = 1_000_000_000
    }
    let state: Mutex<State>

    /// A fake VMM with `guestRAMSize` bytes of zeroed guest RAM at guest-physical 0.
    public init(guestRAMSize: Int = 1 << 20) {
        state = Mutex(State(ram: [UInt8](repeating: 0, count: guestRAMSize)))
    }

    /// Registered port ranges, in registration order.
    public var portRanges: [PortRange] { state.withLock { $0.ports } }
    /// Registered MMIO ranges, in registration order.
    public var mmioRanges: [MMIORange] { state.withLock { $0.mmio } }
    /// Every `setIrq` call, in order.
    public var irqHistory: [IRQEvent] { state.withLock { $0.irqs } }
    /// Created timers (index = handle - 1).
    public var timers: [Timer] { state.withLock { $0.timers } }
    /// `vmPowerOff` requests (device name, exit status).
    public var powerOffRequests: [(device: String, exitStatus: Int32)] { state.withLock { $0.powerOffRequests } }
    /// `vmSuspend` requests (device name, reason).
    public var suspendRequests: [(device: String, reason: Int32)] { state.withLock { $0.suspendRequests } }

    /// A copy of guest RAM `[gpa, gpa+count)` (clamped to RAM).
    public func guestRAM(_ gpa: Int, count: Int) -> [UInt8] {
        state.withLock { s in
            let lo = min(max(0, gpa), s.ram.count)
            return Array(s.ram[lo..<min(lo + max(0, count), s.ram.count)])
        }
    }

    /// Writes `bytes` into guest RAM at `gpa` (ignored past the end).
    public func setGuestRAM(_ gpa: Int, _ bytes: [UInt8]) {
        state.withLock { s in
            for (i, b) in bytes.enumerated() where gpa + i >= 0 && gpa + i < s.ram.count { s.ram[gpa + i] = b }
        }
    }

    // MARK: - VMMServices

    /// Records the range; VMH_ERR_RANGE_CONFLICT if it overlaps a registered one.
    public func registerPortIO(device: DeviceInstance, port: UInt16, count: UInt16, user: UnsafeMutableRawPointer?,
                               in: VMHIoPortIn?, out: VMHIoPortOut?, description: String) -> Int32 {
        state.withLock { s in
            let end = Int(port) + Int(count)
            if s.ports.contains(where: { Int($0.port) < end && Int(port) < Int($0.port) + Int($0.count) }) {
                return VMH_ERR_RANGE_CONFLICT
            }
            s.ports.append(PortRange(device: device, port: port, count: count, user: user, inHandler: `in`,
                                     outHandler: out, description: description))
            return VMH_OK
        }
    }

    /// Records the range; VMH_ERR_RANGE_CONFLICT if it overlaps a registered one.
    public func registerMMIO(device: DeviceInstance, gpa: UInt64, size: UInt64, user: UnsafeMutableRawPointer?,
                             read: VMHMmioRead?, write: VMHMmioWrite?, description: String) -> Int32 {
        state.withLock { s in
            if s.mmio.contains(where: { $0.gpa < gpa &+ size && gpa < $0.gpa &+ $0.size }) { return VMH_ERR_RANGE_CONFLICT }
            s.mmio.append(MMIORange(device: device, gpa: gpa, size: size, user: user, readHandler: read,
                                    writeHandler: write, description: description))
            return VMH_OK
        }
    }

    /// Copies from the byte-array guest RAM; VMH_ERR_OUT_OF_RANGE past its end.
    public func physRead(device: DeviceInstance, gpa: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int32 {
        state.withLock { s in
            guard gpa <= UInt64(s.ram.count), UInt64(buffer.count) <= UInt64(s.ram.count) - gpa else { return VMH_ERR_OUT_OF_RANGE }
            for i in 0..<buffer.count { buffer[i] = s.ram[Int(gpa) + i] }
            return VMH_OK
        }
    }

    /// Copies into the byte-array guest RAM; VMH_ERR_OUT_OF_RANGE past its end.
    public func physWrite(device: DeviceInstance, gpa: UInt64, from buffer: UnsafeRawBufferPointer) -> Int32 {
        state.withLock { s in
            guard gpa <= UInt64(s.ram.count), UInt64(buffer.count) <= UInt64(s.ram.count) - gpa else { return VMH_ERR_OUT_OF_RANGE }
            for i in 0..<buffer.count { s.ram[Int(gpa) + i] = buffer[i] }
            return VMH_OK
        }
    }

    /// Appends to `irqHistory`.
    public func setIRQ(device: DeviceInstance, irq: UInt32, level: Int32) -> Int32 {
        state.withLock { $0.irqs.append(IRQEvent(device: device.name, irq: irq, level: level)) }
        return VMH_OK
    }

    /// Records the timer; handles count from 1.
    public func timerCreate(device: DeviceInstance, callback: VMHTimerCallback, user: UnsafeMutableRawPointer?,
                            description: String, timer: inout UInt64) -> Int32 {
        timer = state.withLock { s in
            s.timers.append(Timer(device: device, callback: callback, user: user, description: description))
            return UInt64(s.timers.count)
        }
        return VMH_OK
    }

    /// Records the arm in `timers` (fire it with `fireTimer`, or let `advanceDeviceClock` reach its deadline).
    public func timerArm(device: DeviceInstance, timer: UInt64, nanoseconds: UInt64) -> Int32 {
        setTimer(timer, of: device, armedNanoseconds: nanoseconds) { clock in
            let (sum, overflow) = clock.addingReportingOverflow(nanoseconds)
            return overflow ? .max : sum
        }
    }

    /// Arms (a deadline from the current device clock) or stops (nil) timer `handle` of `device`; every change
    /// bumps the timer's generation, so a firing taken before it is not delivered.
    private func setTimer(_ handle: UInt64, of device: DeviceInstance, armedNanoseconds: UInt64?,
                          deadline: (UInt64) -> UInt64?) -> Int32 {
        state.withLock { s in
            guard let i = Self.index(handle, of: device, in: s) else { return VMH_ERR_INVALID_PARAMETER }
            s.timers[i].generation &+= 1
            s.timers[i].armedNanoseconds = armedNanoseconds
            s.timers[i].deadline = deadline(s.deviceClock)
            return VMH_OK
        }
    }

    /// Records the device-clock deadline in `timers`.
    public func timerArmAt(device: DeviceInstance, timer: UInt64, deadline: UInt64) -> Int32 {
        setTimer(timer, of: device, armedNanoseconds: nil) { _ in deadline }
    }

    /// The fake device clock: it moves only with `advanceDeviceClock` (it starts at 1 s).
    public func deviceClockNanoseconds(device: DeviceInstance, now: inout UInt64) -> Int32 {
        now = state.withLock { $0.deviceClock }
        return VMH_OK
    }

    /// The index of timer `handle` if `device` created it (the VMM refuses another device's handle too).
    private static func index(_ handle: UInt64, of device: DeviceInstance, in s: State) -> Int? {
        guard handle >= 1, handle <= UInt64(s.timers.count), s.timers[Int(handle) - 1].device === device else { return nil }
        return Int(handle) - 1
    }

    /// The fake device clock now.
    public var deviceClock: UInt64 { state.withLock { $0.deviceClock } }

    /// Moves the device clock `nanoseconds` forward, firing (as `fireTimer`) every armed timer whose deadline it
    /// reaches, earliest first, with the clock standing at that deadline while the callback runs (so a callback
    /// that re-arms relative to "now" or to its deadline sees the time a real VMM would give it). Returns the
    /// handles fired, in order. A callback that keeps re-arming for a deadline already reached stops the advance
    /// after 100,000 firings.
    @discardableResult
    public func advanceDeviceClock(by nanoseconds: UInt64) -> [UInt64] {
        let target = state.withLock { s in
            let (sum, overflow) = s.deviceClock.addingReportingOverflow(nanoseconds)
            return overflow ? UInt64.max : sum
        }
        var fired: [UInt64] = []
        while fired.count < 100_000 {
            // Take the earliest due timer (ties: lowest handle) and disarm it in one step, as the VMM's timer
            // thread does: a stop or re-arm from another thread after this point wins over this firing.
            let next: (index: Int, generation: UInt64, timer: Timer)? = state.withLock { s in
                let due = s.timers.indices.filter { s.timers[$0].deadline.map { $0 <= target } ?? false }
                guard let first = due.min(by: { s.timers[$0].deadline! < s.timers[$1].deadline! }) else { return nil }
                s.deviceClock = max(s.deviceClock, s.timers[first].deadline!)
                s.timers[first].deadline = nil
                s.timers[first].armedNanoseconds = nil
                s.timers[first].generation &+= 1
                return (first, s.timers[first].generation, s.timers[first])
            }
            guard let next else { break }
            let timer = next.timer
            let handle = UInt64(next.index + 1)
            // Under the device lock, and only if nothing re-armed or stopped it since it was taken.
            let delivered: Bool = timer.device.withLock {
                guard state.withLock({ $0.timers[next.index].generation == next.generation }) else { return false }
                timer.callback(timer.device.devIns, timer.user, handle)
                return true
            }
            if delivered { fired.append(handle) }
        }
        state.withLock { $0.deviceClock = max($0.deviceClock, target) }
        return fired
    }

    /// Disarms the timer in `timers`.
    public func timerStop(device: DeviceInstance, timer: UInt64) -> Int32 {
        setTimer(timer, of: device, armedNanoseconds: nil) { _ in nil }
    }

    /// Appends to `powerOffRequests`.
    public func requestPowerOff(device: DeviceInstance, exitStatus: Int32) -> Int32 {
        state.withLock { $0.powerOffRequests.append((device.name, exitStatus)) }
        return VMH_OK
    }

    /// Appends to `suspendRequests`.
    public func requestSuspend(device: DeviceInstance, reason: Int32) -> Int32 {
        state.withLock { $0.suspendRequests.append((device.name, reason)) }
        return VMH_OK
    }

    // MARK: - Driving I/O

    /// Fires timer `handle` now (as the VMM's timer thread would: under the device lock) and disarms it.
    /// Returns false for an unknown handle.
    @discardableResult
    public func fireTimer(_ handle: UInt64) -> Bool {
        let timer: Timer? = state.withLock { s in
            guard handle >= 1, handle <= UInt64(s.timers.count) else { return nil }
            s.timers[Int(handle) - 1].armedNanoseconds = nil
            s.timers[Int(handle) - 1].deadline = nil
            s.timers[Int(handle) - 1].generation &+= 1
            return s.timers[Int(handle) - 1]
        }
        guard let timer else { return false }
        timer.device.withLock { timer.callback(timer.device.devIns, timer.user, handle) }
        return true
    }

    /// A guest port read of `size` bytes (1, 2, 4). Unregistered ports and missing handlers read all-ones.
    public func portIn(_ port: UInt16, size: UInt32) -> (status: Int32, value: UInt32) {
        guard let range = state.withLock({ s in s.ports.first { $0.contains(port) } }), let handler = range.inHandler else {
            return (VMH_OK, size >= 4 ? 0xffff_ffff : (UInt32(1) << (size * 8)) - 1)
        }
        var value: UInt32 = 0
        let status = range.device.withLock { handler(range.device.devIns, range.user, port, size, &value) }
        return (status, value)
    }

    /// A guest port write; returns the handler's status (VMH_OK when nothing handles the port).
    @discardableResult
    public func portOut(_ port: UInt16, size: UInt32, value: UInt32) -> Int32 {
        guard let range = state.withLock({ s in s.ports.first { $0.contains(port) } }), let handler = range.outHandler else {
            return VMH_OK
        }
        return range.device.withLock { handler(range.device.devIns, range.user, port, size, value) }
    }

    /// A guest MMIO read of `size` (1…8) bytes at guest-physical `gpa`; unhandled addresses read all-ones.
    public func mmioRead(_ gpa: UInt64, size: UInt32) -> (status: Int32, value: UInt64) {
        guard size >= 1, size <= 8 else { return (VMH_ERR_INVALID_PARAMETER, 0) }
        guard let range = state.withLock({ s in s.mmio.first { $0.contains(gpa) } }), let handler = range.readHandler else {
            return (VMH_OK, size == 8 ? UInt64.max : (UInt64(1) << (UInt64(size) * 8)) - 1)
        }
        var value: UInt64 = 0
        let status = range.device.withLock { withUnsafeMutableBytes(of: &value) { handler(range.device.devIns, range.user, gpa - range.gpa, $0.baseAddress, size) } }
        return (status, value)
    }

    /// A guest MMIO write of the low `size` bytes of `value` at `gpa`.
    @discardableResult
    public func mmioWrite(_ gpa: UInt64, size: UInt32, value: UInt64) -> Int32 {
        guard size >= 1, size <= 8 else { return VMH_ERR_INVALID_PARAMETER }
        guard let range = state.withLock({ s in s.mmio.first { $0.contains(gpa) } }), let handler = range.writeHandler else {
            return VMH_OK
        }
        var v = value
        return range.device.withLock { withUnsafeBytes(of: &v) { handler(range.device.devIns, range.user, gpa - range.gpa, $0.baseAddress, size) } }
    }
}
