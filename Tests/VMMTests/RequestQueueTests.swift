import Glibc
import Synchronization
import Testing
import VMM

@Suite(.serialized) struct RequestQueueTests {
    @Test func requestRunsOnTheNamedEMT() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: 3)
        try vm.powerOn()
        for id in 0..<3 {
            let status = try vm.emts.requests.call(.vcpu(id)) { emt in
                emt.id == id && emt.isCurrentThread ? .success : .failure(.callbackFailed("ran on \(emt.id)"))
            }
            #expect(status == .success)
        }
        #expect(throws: VMError.invalidVCPU(id: 3, count: 3)) { try vm.emts.requests.call(.vcpu(3)) { _ in .success } }
        try vm.powerOff()
    }

    @Test func allAndAllReverseVisitEveryEMTInOrder() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: 3)
        let seen = Mutex<[Int]>([])
        try vm.emts.requests.call(.all) { emt in seen.withLock { $0.append(emt.id) }; return .success }
        try vm.emts.requests.call(.allReverse) { emt in seen.withLock { $0.append(emt.id) }; return .success }
        #expect(seen.withLock { $0 } == [0, 1, 2, 2, 1, 0])
    }

    @Test func requestForOwnIDOrAnyRunsInlineOnAnEMT() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: 2)
        let status = try vm.emts.requests.call(.vcpu(1)) { outer in
            let ownThread = Mutex<[Bool]>([])
            do {
                try vm.emts.requests.call(.vcpu(1)) { inner in
                    ownThread.withLock { $0.append(inner === outer && inner.isCurrentThread) }; return .success
                }
                try vm.emts.requests.call(.any) { inner in
                    ownThread.withLock { $0.append(inner === outer) }; return .success
                }
            } catch {
                return .failure(.callbackFailed("\(error)"))
            }
            return ownThread.withLock { $0 } == [true, true] ? .info(.halt) : .failure(.callbackFailed("not inline"))
        }
        #expect(status == .info(.halt))
    }

    @Test func noWaitRequestRunsLater() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: 2)
        let ran = Atomic<Int>(0)
        let status = try vm.emts.requests.call(.anyQueued, wait: false) { _ in
            ran.add(1, ordering: .sequentiallyConsistent); return .success
        }
        #expect(status == .success)
        #expect(eventually { ran.load(ordering: .sequentiallyConsistent) == 1 })
    }

    @Test func priorityRequestIsServedWhileEMT0WaitsInsideAWalk() throws {
        let (vm, _, devices) = try makeFakeVM(vcpus: 2)
        try vm.powerOn()
        devices.suspendGoesAsync.store(true, ordering: .sequentiallyConsistent)
        final class ResultBox: @unchecked Sendable { let outcome = Mutex<Result<VMOperationOutcome, VMError>?>(nil) }
        let result = ResultBox()
        var thread = pthread_t()
        final class Box: @unchecked Sendable { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
        let box = Box {
            do { result.outcome.withLock { $0 = .success(try! vm.suspend()) } }
        }
        pthread_create(&thread, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body(); return nil
        }, Unmanaged.passRetained(box).toOpaque())
        #expect(eventually { devices.asyncStarted.load(ordering: .sequentiallyConsistent) })
        #expect(vm.state == .suspending)

        // A normal request to EMT 0 is not served during the walk; a priority one is.
        let normalRan = Atomic<Bool>(false)
        try vm.emts.requests.call(.vcpu(0), wait: false) { _ in normalRan.store(true, ordering: .sequentiallyConsistent); return .success }
        let priorityStatus = try vm.emts.requests.call(.vcpu(0), priority: true) { emt in
            emt.id == 0 ? .info(.halt) : .failure(.callbackFailed("wrong EMT"))
        }
        #expect(priorityStatus == .info(.halt))
        #expect(!Bool(normalRan.load(ordering: .sequentiallyConsistent)))
        #expect(vm.state == .suspending)

        vm.walkWaiter.wake()
        pthread_join(thread, nil)
        #expect(result.outcome.withLock { $0 } == .success(.done))
        #expect(vm.state == .suspended)
        #expect(devices.walks().suffix(2) == ["suspend", "suspend-done"])
        #expect(eventually { normalRan.load(ordering: .sequentiallyConsistent) })
        try vm.powerOff()
    }

    @Test func requestsAfterDestroyFail() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: 2)
        try vm.destroy()
        #expect(vm.state == .terminated)
        #expect(throws: VMError.emtsTerminated) { try vm.emts.requests.call(.vcpu(0)) { _ in .success } }
        #expect(throws: VMError.invalidState(operation: .powerOn, current: .terminated)) { try vm.powerOn() }
    }
}
