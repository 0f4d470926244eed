import Glibc
import Synchronization
import VMM

/// A stand-in vCPU for tests of the API over the real VM threading (EMTs, rendezvous, state machine): "guest
/// execution" is a short sleep that a kick ends early, and each run counts, so a test can see whether guest code
/// ran while the VM was suspended.
final class FakeVCPU: VCPUExecutor, @unchecked Sendable {
    let id: Int
    let runs = Atomic<Int>(0)
    let immediateExit = Atomic<Bool>(false)
    /// The next run returns this instead of running (one shot).
    let injected = Mutex<VCPURunResult?>(nil)

    init(id: Int) { self.id = id }

    func runOnce() -> VCPURunResult {
        if let result = injected.withLock({ value in defer { value = nil }; return value }) { return result }
        runs.add(1, ordering: .relaxed)
        for _ in 0..<5 {
            if immediateExit.load(ordering: .sequentiallyConsistent) { return .interrupted }
            usleep(100)
        }
        return .continue
    }

    func requestImmediateExit() { immediateExit.store(true, ordering: .sequentiallyConsistent) }
    func clearImmediateExit() { immediateExit.store(false, ordering: .sequentiallyConsistent) }
    func resetToPowerOnState() throws(VMError) {}
    func registerDump() -> String { "rip=0x1000 (fake vCPU \(id))" }
}
