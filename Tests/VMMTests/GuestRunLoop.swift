import Foundation
import Glibc
import Synchronization
@testable import VMM

/// Runs a vCPU on a dedicated thread until `stop` says so or a watchdog fires, for tests.
///
/// The watchdog kicks the vCPU (immediate_exit + a signal with an empty handler, no SA_RESTART) so a guest that
/// never exits cannot hang the test run.
enum GuestRunLoop {
    static let kickSignal: Int32 = __libc_current_sigrtmin() + 6
    private static let installed = Atomic<Bool>(false)

    static func installKickHandler() {
        guard !installed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(kickSignal, &action, nil)
    }

    /// What a test run ended with.
    struct Result: Sendable {
        /// The last outcome (the one `stop` accepted), or nil when the watchdog fired.
        var outcome: VCPUExitOutcome?
        var exits: Int
        var timedOut: Bool
    }

    private final class State: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        let thread = Mutex<pthread_t?>(nil)
        let timedOut = Atomic<Bool>(false)
        var result = Result(outcome: nil, exits: 0, timedOut: false)
    }

    /// Runs `runner` until `stop(outcome)` is true or `timeout` seconds pass.
    static func run(_ runner: VCPURunner, timeout: Double = 20,
                    stop: @escaping @Sendable (VCPUExitOutcome) -> Bool) -> Result {
        installKickHandler()
        let state = State()
        let thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, kickSignal)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            state.thread.withLock { $0 = pthread_self() }
            var exits = 0
            while true {
                if state.timedOut.load(ordering: .acquiring) {
                    state.result = Result(outcome: nil, exits: exits, timedOut: true)
                    break
                }
                let outcome = runner.runOnce()
                exits += 1
                if outcome == .interrupted { runner.clearImmediateExit(); continue }
                if stop(outcome) {
                    state.result = Result(outcome: outcome, exits: exits, timedOut: false)
                    break
                }
            }
            state.thread.withLock { $0 = nil }
            state.done.signal()
        }
        thread.start()
        if state.done.wait(timeout: .now() + timeout) == .timedOut {
            state.timedOut.store(true, ordering: .releasing)
            // Kick until the thread notices.
            while state.done.wait(timeout: .now() + 0.05) == .timedOut {
                runner.requestImmediateExit()
                state.thread.withLock { if let t = $0 { _ = pthread_kill(t, kickSignal) } }
            }
        }
        return state.result
    }
}

extension GuestRunLoop {
    /// Runs every runner on its own thread until `condition()` holds (polled every 10 ms by the calling thread,
    /// which sleeps in between) or `timeout` seconds pass; then kicks all vCPUs out and joins them.
    /// Returns whether the condition held, and every outcome that was not `.continue` / `.interrupted`.
    static func runAll(_ runners: [VCPURunner], timeout: Double = 20,
                       until condition: () -> Bool) -> (met: Bool, outcomes: [VCPUExitOutcome]) {
        installKickHandler()
        final class Shared: @unchecked Sendable {
            let stop = Atomic<Bool>(false)
            let threads = Mutex<[pthread_t]>([])
            let outcomes = Mutex<[VCPUExitOutcome]>([])
            let finished = DispatchSemaphore(value: 0)
        }
        let shared = Shared()
        for runner in runners {
            Thread {
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, kickSignal)
                pthread_sigmask(SIG_UNBLOCK, &set, nil)
                shared.threads.withLock { $0.append(pthread_self()) }
                run: while !shared.stop.load(ordering: .acquiring) {
                    let outcome = runner.runOnce()
                    switch outcome {
                    case .continue:
                        continue
                    case .interrupted:
                        runner.clearImmediateExit()
                    case .halted, .powerOffRequested, .suspendRequested:
                        shared.outcomes.withLock { $0.append(outcome) }
                    case .shutdown, .internalError, .failEntry:
                        shared.outcomes.withLock { $0.append(outcome) }
                        break run
                    }
                }
                shared.finished.signal()
            }.start()
        }
        let deadline = Date().addingTimeInterval(timeout)
        var met = false
        while Date() < deadline {
            if condition() { met = true; break }
            usleep(10_000)
        }
        shared.stop.store(true, ordering: .releasing)
        var joined = 0
        while joined < runners.count {
            if shared.finished.wait(timeout: .now() + 0.05) == .success { joined += 1; continue }
            for r in runners { r.requestImmediateExit() }
            shared.threads.withLock { for t in $0 { _ = pthread_kill(t, kickSignal) } }
        }
        return (met, shared.outcomes.withLock { $0 })
    }
}
