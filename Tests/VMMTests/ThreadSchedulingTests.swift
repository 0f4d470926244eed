import Glibc
import PDM
import Synchronization
import Testing
@testable import VMM

/// The VMM's threads never inherit a real-time policy from the thread that builds the VM: a vCPU spinning in the
/// guest at SCHED_FIFO never yields and starves the host (this hung the pause/resume storm under load).
@Suite struct ThreadSchedulingTests {
    /// Can this process make a thread SCHED_FIFO (root, or CAP_SYS_NICE / RLIMIT_RTPRIO)?
    static let canUseFIFO: Bool = {
        let result = Mutex<Bool>(false)
        runOnPthread {
            var param = sched_param()
            param.sched_priority = 1
            result.withLock { $0 = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0 }
        }
        return result.withLock { $0 }
    }()

    /// Runs `body` on a fresh pthread and joins it (the policy change must not touch a shared test thread).
    static func runOnPthread(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create: \(rc)")
        pthread_join(thread, nil)
    }

    @Test(.enabled(if: canUseFIFO, "needs the privilege to make a thread SCHED_FIFO"))
    func emtsOfAVMBuiltOnARealtimeThreadRunSCHEDOTHER() throws {
        let outcome = Mutex<[String]>([])
        Self.runOnPthread {
            var param = sched_param()
            param.sched_priority = 1
            guard pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0 else {
                outcome.withLock { $0.append("cannot become SCHED_FIFO") }
                return
            }
            do {
                var config = VMConfiguration()
                config.machine = MachineSettings(cpus: 2, memoryMiB: 64, kernel: try TestGuests.path("smp-counter"),
                                                 cmdline: "cpus=2")
                let vm = try VirtualMachine.create(configuration: config, registry: PluginRegistry())
                try vm.powerOn()
                let deadline = ContinuousClock.now + .seconds(20)
                while vm.emts.emts.contains(where: { $0.threadID.load(ordering: .relaxed) == 0 }),
                      ContinuousClock.now < deadline {
                    usleep(1_000)
                }
                errno = 0
                let processNice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(getpid()))
                for emt in vm.emts.emts {
                    let tid = emt.threadID.load(ordering: .relaxed)
                    let policy = sched_getscheduler(tid)
                    let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid))
                    outcome.withLock { $0.append("EMT \(emt.id): tid \(tid > 0) policy \(policy) nice \(nice)") }
                }
                outcome.withLock { $0.append("process nice \(processNice)") }
                try vm.powerOff()
                try vm.destroy()
            } catch {
                outcome.withLock { $0.append("error: \(error)") }
            }
        }
        let lines = outcome.withLock { $0 }
        let nice = lines.last?.split(separator: " ").last.map(String.init) ?? "?"
        #expect(lines == ["EMT 0: tid true policy \(SCHED_OTHER) nice \(nice)",
                          "EMT 1: tid true policy \(SCHED_OTHER) nice \(nice)", "process nice \(nice)"])
    }
}

/// The timed semaphore wait every EMT park and requester wait rests on (CLOCK_MONOTONIC via sem_clockwait).
@Suite struct ThreadSemaphoreTests {
    @Test func timedWaitTimesOutAfterAboutItsTimeoutAndTakesAPost() {
        let semaphore = ThreadSemaphore()
        let start = ContinuousClock.now
        #expect(!semaphore.wait(timeoutNanoseconds: 30_000_000))
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(29) && waited < .seconds(5), "\(waited)")
        semaphore.post()
        #expect(semaphore.wait(timeoutNanoseconds: 1_000_000_000))
        #expect(!semaphore.tryWait())
    }
}
