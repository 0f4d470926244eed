import Logging
import NIOCore
import Synchronization
import VMM

/// What every connection handler shares: the VM (once attached), the operation thread, the event hub, the
/// device tree source and the limits. All of it is safe from any thread.
final class ControlService: Sendable {
    let runner: VMOperationRunner
    let hub: ControlEventHub
    let timeline: BootTimeline
    let limits: ControlServerLimits
    let logger: Logger
    /// The uid every peer must have (the server's effective uid).
    let ownerUID: UInt32
    let connections = Atomic<Int>(0)
    /// Timeline microseconds when the VM first reached `running`; < 0 before.
    private let firstRunning = FirstRunningClock()

    private struct Binding {
        let vm: VirtualMachine
        let devices: @Sendable () -> [DeviceInfo]
        let token: VMStateMachine.ListenerToken
    }
    private let binding = Mutex<Binding?>(nil)

    init(timeline: BootTimeline, limits: ControlServerLimits, ownerUID: UInt32, logger: Logger) {
        self.runner = VMOperationRunner()
        self.hub = ControlEventHub(timeline: timeline)
        self.timeline = timeline
        self.limits = limits
        self.ownerUID = ownerUID
        self.logger = logger
    }

    /// The VM, once attached (before: the API answers as for a VM in state `creating`).
    var vm: VirtualMachine? { binding.withLock { $0?.vm } }

    /// Serves `vm` from now on; false if a VM is attached already.
    func attach(vm: VirtualMachine, devices: @escaping @Sendable () -> [DeviceInfo]) -> Bool {
        binding.withLock { binding in
            guard binding == nil else { return false }
            let hub = self.hub
            let timeline = self.timeline
            let firstRunning = self.firstRunning
            // Called on the EMT making the transition with the state lock held: only publish (no VM calls that
            // take the state lock). The guru record is set before the guru transition, under its own lock.
            let token = vm.stateMachine.addListener { [weak vm] new, old in
                if new == .running { firstRunning.markIfUnset(timeline) }
                hub.publish(type: "state") { event in
                    event.state = new.rawValue
                    event.previous = old.rawValue
                }
                if new == .guruMeditation, let guru = vm?.guruMeditation {
                    hub.publish(type: "guru_meditation") { event in
                        event.vcpu = guru.vcpu
                        event.reason = guru.reason
                    }
                }
            }
            if vm.state == .running || vm.state == .suspended { firstRunning.markIfUnset(timeline) }
            binding = Binding(vm: vm, devices: devices, token: token)
            return true
        }
    }

    func shutdown() {
        if let bound = binding.withLock({ $0 }) { bound.vm.stateMachine.removeListener(bound.token) }
        runner.shutdown()
    }

    /// `GET /devices` (empty before a VM is attached).
    func devices() -> [DeviceInfo] {
        binding.withLock { $0?.devices }?() ?? []
    }

    /// `GET /vm`.
    func status() -> VMStatusResponse {
        var boot: [String: Double] = [:]
        for (milestone, ms) in timeline.snapshot() { boot[milestone.description] = ms }
        guard let vm else {
            return VMStatusResponse(state: VMState.creating.rawValue, reason: nil, vcpus: 0, uptimeMs: nil,
                                    bootTimeline: boot, exitStatus: nil, guruMeditation: nil)
        }
        let state = vm.state
        let guru = vm.guruMeditation
        var reason: String?
        switch state {
        case .suspending, .suspended: reason = vm.stateMachine.suspendReason?.description
        case .guruMeditation: reason = guru?.reason
        default: reason = nil
        }
        let uptime = firstRunning.milliseconds().map { timeline.nowMilliseconds() - $0 }
        return VMStatusResponse(
            state: state.rawValue, reason: reason, vcpus: vm.vcpuCount, uptimeMs: uptime, bootTimeline: boot,
            exitStatus: vm.requestedExitStatus,
            guruMeditation: guru.map { GuruMeditationInfo(vcpu: $0.vcpu, reason: $0.reason, registers: $0.registers) })
    }
}

/// When the VM first reached `running`, in timeline milliseconds (for `uptime_ms`).
private final class FirstRunningClock: Sendable {
    /// Timeline microseconds; < 0 before.
    private let micros = Atomic<Int64>(-1)

    func markIfUnset(_ timeline: BootTimeline) {
        guard micros.load(ordering: .relaxed) < 0 else { return }
        _ = micros.compareExchange(expected: -1, desired: Int64(timeline.nowMilliseconds() * 1000),
                                   ordering: .relaxed)
    }

    func milliseconds() -> Double? {
        let value = micros.load(ordering: .relaxed)
        return value < 0 ? nil : Double(value) / 1000
    }
}
