import Logging
import NIOCore
import Synchronization
import VMM

/// What every connection handler shares: the VM, the operation thread, the event hub, the device tree source
/// and the limits. All of it is safe from any thread.
final class ControlService: Sendable {
    let vm: VirtualMachine
    let runner: VMOperationRunner
    let hub: ControlEventHub
    let devices: @Sendable () -> [DeviceInfo]
    let timeline: BootTimeline
    let limits: ControlServerLimits
    let logger: Logger
    /// The uid every peer must have (the server's effective uid).
    let ownerUID: UInt32
    let connections = Atomic<Int>(0)
    /// Timeline microseconds when the VM first reached `running`; < 0 before.
    private let firstRunning = FirstRunningClock()
    private let listenerToken: VMStateMachine.ListenerToken

    init(vm: VirtualMachine, devices: @escaping @Sendable () -> [DeviceInfo], timeline: BootTimeline,
         limits: ControlServerLimits, ownerUID: UInt32, logger: Logger) {
        self.vm = vm
        self.runner = VMOperationRunner()
        self.hub = ControlEventHub(timeline: timeline)
        self.devices = devices
        self.timeline = timeline
        self.limits = limits
        self.ownerUID = ownerUID
        self.logger = logger
        let hub = self.hub
        let firstRunning = self.firstRunning
        // Called on the EMT making the transition with the state lock held: only publish (no VM calls that
        // take the state lock). The guru record is set before the guru transition, under its own lock.
        listenerToken = vm.stateMachine.addListener { [weak vm] new, old in
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
    }

    func shutdown() {
        vm.stateMachine.removeListener(listenerToken)
        runner.shutdown()
    }

    /// `GET /vm`.
    func status() -> VMStatusResponse {
        let state = vm.state
        let guru = vm.guruMeditation
        var reason: String?
        switch state {
        case .suspending, .suspended: reason = vm.stateMachine.suspendReason?.description
        case .guruMeditation: reason = guru?.reason
        default: reason = nil
        }
        let uptime = firstRunning.milliseconds().map { timeline.nowMilliseconds() - $0 }
        var boot: [String: Double] = [:]
        for (milestone, ms) in timeline.snapshot() { boot[milestone.description] = ms }
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
