import Glibc
import Testing
@testable import VMM

/// The EMTs' safety net (docs/vmm-threads.md): work that reaches a queue without its force-action flag or a
/// notification — a lost wake-up — is still served, by the idle EMT's timed park, within about a second.
@Suite struct SafetyNetTests {
    @Test func workQueuedWithoutItsFlagOrANotificationIsStillServed() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: 2)
        defer { try? vm.destroy() }
        // Created, not powered on: both EMTs are parked.
        #expect(eventually { vm.emts.emts.allSatisfy(\.isParked) })
        let request = VMRequest(priority: false) { emt in emt.id == 1 ? .success : .failure(.invalidVCPU(id: emt.id, count: 2)) }
        let start = ContinuousClock.now
        request.serial = 999_999
        vm.emts.requests.perVCPU[1].push(request)  // no flag, no notify: as if the notification was lost
        #expect(request.done.wait(timeoutNanoseconds: 5_000_000_000), "\(vm.emts.diagnostics())")
        let waited = ContinuousClock.now - start
        #expect(waited < .seconds(3), "\(waited)")
        if case .failure(let error) = request.status { Issue.record("served on the wrong EMT: \(error)") }
        #expect(vm.emts.emts[1].lastTakenRequest.load(ordering: .relaxed) == request.serial)
    }
}
