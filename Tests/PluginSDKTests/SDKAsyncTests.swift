@testable import PluginSDK
import Synchronization
import Testing

/// The async power-operation bookkeeping behind ``AsyncCompletion``: tokens, the poller's answer, stale tokens,
/// and completions after destruct.
@Suite(.serialized)
struct SDKAsyncTests {
    /// A device instance whose helper table only counts asyncNotificationCompleted calls.
    final class CountingInstance: @unchecked Sendable {
        static let completions = Atomic<Int>(0)
        let ins: UnsafeMutablePointer<VMHDevIns>
        let hlp: UnsafeMutablePointer<VMHDevHlp>

        init() {
            hlp = .allocate(capacity: 1)
            var table = VMHDevHlp()
            table.asyncNotificationCompleted = { _ in _ = CountingInstance.completions.add(1, ordering: .relaxed) }
            hlp.initialize(to: table)
            ins = .allocate(capacity: 1)
            var instance = VMHDevIns()
            instance.hlp = UnsafePointer(hlp)
            ins.initialize(to: instance)
        }

        deinit {
            ins.deallocate()
            hlp.deallocate()
        }
    }

    @Test func pendingUntilTheTokenCompletes() {
        let instance = CountingInstance()
        let state = AsyncState(.device(instance.ins))
        let before = CountingInstance.completions.load(ordering: .relaxed)
        state.begin()
        let token = state.token()
        state.setPending(.suspend)
        #expect(state.poll().done == false)
        token.complete()
        #expect(CountingInstance.completions.load(ordering: .relaxed) == before + 1)
        let answer = state.poll()
        #expect(answer.done)
        #expect(answer.finished == .suspend)
        // The finished operation is reported once.
        #expect(state.poll().finished == nil)
    }

    @Test func aStaleTokenDoesNotCompleteANewerOperation() {
        let instance = CountingInstance()
        let state = AsyncState(.device(instance.ins))
        state.begin()
        let stale = state.token()
        state.setPending(.suspend)
        state.begin()  // the host gave up on suspend; power-off starts
        let current = state.token()
        state.setPending(.powerOff)
        stale.complete()
        #expect(state.poll().done == false)
        current.complete()
        #expect(state.poll() == (true, .powerOff))
        // A late stale completion after the newer one does not undo it.
        stale.complete()
        state.begin()
        #expect(state.poll().done == false)
    }

    @Test func completionAfterDestructDoesNotCallTheHost() {
        let instance = CountingInstance()
        let state = AsyncState(.device(instance.ins))
        state.begin()
        let token = state.token()
        state.detach()
        let before = CountingInstance.completions.load(ordering: .relaxed)
        token.complete()
        #expect(CountingInstance.completions.load(ordering: .relaxed) == before)
    }

    @Test func completionFromAnotherThread() throws {
        let instance = CountingInstance()
        let state = AsyncState(.device(instance.ins))
        state.begin()
        let token = state.token()
        state.setPending(.reset)
        let box = FinishedBox()
        try PluginThread.detach {
            token.complete()
            box.flag.store(true, ordering: .sequentiallyConsistent)
        }
        while !box.flag.load(ordering: .sequentiallyConsistent) { PluginThread.sleep(milliseconds: 1) }
        #expect(state.poll() == (true, .reset))
    }

    final class FinishedBox: Sendable {
        let flag = Atomic<Bool>(false)
    }
}
