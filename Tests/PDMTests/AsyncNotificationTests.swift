import Glibc
import PDM
import PluginTestKit
import Synchronization
import Testing

/// A WalkWaiter that records who woke it, around the default condition-variable waiter.
final class RecordingWaiter: WalkWaiter, @unchecked Sendable {
    let inner = ConditionWalkWaiter()
    let wakers = Mutex<[UInt]>([])
    let waits = Atomic<Int>(0)

    func wait(until deadline: ContinuousClock.Instant) -> Bool {
        waits.add(1, ordering: .relaxed)
        return inner.wait(until: deadline)
    }

    func wake() {
        wakers.withLock { $0.append(UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))) }
        inner.wake()
    }
}

/// Async notification (reference §9 rules 6, 7 and the deadline), on the real Probe plugins.
@Suite struct AsyncNotificationTests {
    /// Rule 6: asyncNotificationCompleted from a plugin thread wakes the walker through its WalkWaiter; without
    /// that wake-up the 5 s deadline would fail the walk.
    @Test func completionFromAnotherThreadWakesTheWalk() throws {
        let h = try probeHarness(deadline: 5_000)
        h.addDevice(probeDevice(chains: [[probeDriver(["async-ms": .integer(30)])]]))
        try h.construct()
        try h.powerOn()
        let waiter = RecordingWaiter()
        try h.pdm.suspend(waiter: waiter)
        let walker = UInt(pthread_self())
        let wakers = waiter.wakers.withLock { $0 }
        #expect(!wakers.isEmpty)
        #expect(wakers.allSatisfy { $0 != walker })
        #expect(waiter.waits.load(ordering: .relaxed) >= 1)
        try h.expectOrder(["Probe/0/0/Probe/0: suspend", "Probe/0/0/Probe/0: suspend-done", "Probe/0: suspend"])
    }

    /// A completion that arrives after its walk ended (here: after the deadline gave up on it) is ignored: it
    /// wakes no waiter and the dropped poller is never called.
    @Test func completionOutsideAWalkIsIgnored() throws {
        let h = try probeHarness(deadline: 100)
        h.addDevice(probeDevice(chains: [[probeDriver(["async-ms": .integer(300), "async-on": .string("suspend")])]]))
        try h.construct()
        try h.powerOn()
        let waiter = RecordingWaiter()
        #expect(throws: PDMError.self) { try h.pdm.suspend(waiter: waiter) }
        let wakesDuringWalk = waiter.wakers.withLock { $0.count }
        #expect(wakesDuringWalk == 0)
        var pause = timespec(tv_sec: 0, tv_nsec: 450_000_000)
        nanosleep(&pause, nil)  // the plugin's worker completes at ≈300 ms, outside any walk
        #expect(waiter.wakers.withLock { $0.count } == 0)
        try h.expectNever("Probe/0/0/Probe/0", "suspend-done")
        // The PDM is still usable: power-off reaches everybody.
        try h.powerOff()
        #expect(h.instances(logging: "powerOff") == ["Probe/0/0/Probe/0", "Probe/0"])
    }

    /// Rule 7: the progress line names the laggard: first on the first pending pass, again at ≈1 s.
    @Test func progressLineNamesTheLaggard() throws {
        let h = try probeHarness(deadline: 10_000)
        h.addDevice(probeDevice(chains: [[probeDriver(["async-ms": .integer(1_150)])]]))
        h.addDevice(probeDevice())
        try h.construct()
        try h.powerOn()
        try h.suspend()
        let reports = h.progressReports
        #expect(reports.count >= 2)
        let first = try #require(reports.first)
        #expect(first.operation == .suspend)
        #expect(first.passes == 1)
        #expect(first.pending == ["Probe/0/0/Probe/0"])
        #expect(first.description.wholeMatch(of: /suspend: after \d+ ms, 1 passes: 1 pending - Probe\/0\/0\/Probe\/0/) != nil)
        #expect(reports.dropFirst().first.map { $0.elapsedMilliseconds >= 1_000 } == true)
        try h.expectOrder(["Probe/0/0/Probe/0: suspend-done", "Probe/0: suspend"])
    }

    /// The deadline: the error lists who never finished and who was never reached; they are marked
    /// failed-to-quiesce, the PDM stays usable and power-off still reaches everybody.
    @Test func deadlineNamesWhoNeverFinished() throws {
        let h = try probeHarness(deadline: 300)
        let stuck: Settings = ["never-complete": .bool(true), "async-on": .string("suspend")]
        h.addDevice(probeDevice(chains: [[probeDriver(stuck), probeDriver()]]))
        h.addDevice(probeDevice("Probe", stuck))
        h.addDevice(probeDevice())
        try h.construct()
        try h.powerOn()
        do {
            try h.suspend()
            Issue.record("suspend should pass its deadline")
        } catch {
            guard case .deadlineExceeded(.suspend, 300, let never, let notReached) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(never == ["Probe/0/0/Probe/0", "Probe/1"])
            #expect(notReached == ["Probe/0", "Probe/0/0/Probe/1"])
            #expect(error.description.contains("never finished: Probe/0/0/Probe/0, Probe/1"))
        }
        try h.expectCount("Probe/2", "suspend", 1)
        let state = h.asyncState()
        #expect(state.pending.isEmpty)
        #expect(state.failedToQuiesce == ["Probe/0/0/Probe/0", "Probe/1"])
        h.clearLog()
        try h.powerOff()
        #expect(Set(h.instances(logging: "powerOff")) == ["Probe/0", "Probe/0/0/Probe/0", "Probe/0/0/Probe/1", "Probe/1", "Probe/2"])
        h.destroy()
        #expect(h.instances(logging: "destruct").count == 5)
    }

    /// While a walk waits, the instance tree shows the pending instance (queried from another thread).
    @Test func instanceTreeShowsPendingDuringWalk() throws {
        let h = try probeHarness(deadline: 5_000)
        h.addDevice(probeDevice(chains: [[probeDriver(["async-ms": .integer(200)])]]))
        try h.construct()
        try h.powerOn()
        let seen = Mutex<[String]>([])
        final class Probe: WalkWaiter, @unchecked Sendable {
            let inner = ConditionWalkWaiter()
            let onWait: @Sendable () -> Void
            init(onWait: @escaping @Sendable () -> Void) { self.onWait = onWait }
            func wait(until deadline: ContinuousClock.Instant) -> Bool {
                onWait()
                return inner.wait(until: deadline)
            }
            func wake() { inner.wake() }
        }
        let pdm = h.pdm
        let waiter = Probe {
            let pending = pdm.instanceTree().flatMap { d in d.luns.flatMap(\.drivers).filter(\.asyncPending).map(\.name) }
            seen.withLock { $0.append(contentsOf: pending) }
        }
        try pdm.suspend(waiter: waiter)
        #expect(seen.withLock { $0 }.contains("Probe/0/0/Probe/0"))
        #expect(h.asyncState().pending.isEmpty)
    }
}
