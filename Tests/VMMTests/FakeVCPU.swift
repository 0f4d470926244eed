import Glibc
import Synchronization
import VMM

/// A stand-in vCPU for the pure threading logic: "guest execution" is a short sleep that a kick ends early.
final class FakeVCPU: VCPUExecutor, @unchecked Sendable {
    let id: Int
    let runs = Atomic<Int>(0)
    let immediateExit = Atomic<Bool>(false)
    let resets = Atomic<Int>(0)
    /// The next run returns this instead of running (one shot).
    let injected = Mutex<VCPURunResult?>(nil)
    /// Called inside the next run (one shot), e.g. to let a "device" request a power-off.
    let duringRun = Mutex<(@Sendable () -> Void)?>(nil)

    init(id: Int) { self.id = id }

    func runOnce() -> VCPURunResult {
        if let result = injected.withLock({ value in defer { value = nil }; return value }) { return result }
        if let action = duringRun.withLock({ value in defer { value = nil }; return value }) {
            action()
            return .powerOffRequested
        }
        runs.add(1, ordering: .relaxed)
        for _ in 0..<10 {
            if immediateExit.load(ordering: .sequentiallyConsistent) { return .interrupted }
            usleep(100)
        }
        return .continue
    }

    func requestImmediateExit() { immediateExit.store(true, ordering: .sequentiallyConsistent) }
    func clearImmediateExit() { immediateExit.store(false, ordering: .sequentiallyConsistent) }
    func resetToPowerOnState() throws(VMError) { resets.add(1, ordering: .relaxed) }
    func registerDump() -> String { "rip=0xdead (fake vCPU \(id))" }
}

/// A stand-in PDM recording which walk ran on which EMT.
final class FakeDevices: VMDeviceControl, @unchecked Sendable {
    struct Call: Equatable { let walk: String; let emt: Int? }
    let calls = Mutex<[Call]>([])
    weak var vm: VirtualMachine?
    /// When set, the suspend walk waits on the walk waiter until woken (like an async driver) and runs this first.
    let suspendGoesAsync = Atomic<Bool>(false)
    let asyncStarted = Atomic<Bool>(false)
    let failResume = Atomic<Bool>(false)

    private func record(_ walk: String) {
        let emt = vm?.emts.currentEMT()?.id
        calls.withLock { $0.append(Call(walk: walk, emt: emt)) }
    }

    func walks() -> [String] { calls.withLock { $0.map(\.walk) } }

    func powerOn(waiter: EMTWalkWaiter) throws(VMError) { record("powerOn") }
    func suspend(waiter: EMTWalkWaiter) throws(VMError) {
        record("suspend")
        if suspendGoesAsync.load(ordering: .sequentiallyConsistent) {
            asyncStarted.store(true, ordering: .sequentiallyConsistent)
            while !waiter.wait(until: .now + .seconds(3600)) {}
            record("suspend-done")
        }
    }
    func resume(waiter: EMTWalkWaiter) throws(VMError) {
        record("resume")
        if failResume.load(ordering: .sequentiallyConsistent) { throw .deviceWalkFailed(operation: .resume, message: "Probe failed resume") }
    }
    func reset(waiter: EMTWalkWaiter) throws(VMError) { record("reset") }
    func powerOff(waiter: EMTWalkWaiter) throws(VMError) { record("powerOff") }
    func destroy() { record("destroy") }
}

func makeFakeVM(vcpus: Int) throws -> (VirtualMachine, [FakeVCPU], FakeDevices) {
    let cpus = (0..<vcpus).map { FakeVCPU(id: $0) }
    let devices = FakeDevices()
    let vm = try VirtualMachine(vcpus: cpus, devices: devices, machine: nil)
    devices.vm = vm
    return (vm, cpus, devices)
}

/// Waits (bounded, for correctness checks only) until `condition` holds.
func eventually(timeoutMilliseconds: Int = 5000, _ condition: () -> Bool) -> Bool {
    for _ in 0..<(timeoutMilliseconds / 2) {
        if condition() { return true }
        usleep(2000)
    }
    return condition()
}
