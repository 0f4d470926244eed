import Glibc
import Synchronization
import Testing
import VMM

/// Rendezvous semantics with fake vCPUs (pure threading logic; the EMTs are real pthreads).
@Suite(.serialized) struct RendezvousTests {
    static let vcpus = 4

    private func order(_ type: RendezvousType, on vm: VirtualMachine) throws -> [Int] {
        let seen = Mutex<[Int]>([])
        let status = try vm.emts.rendezvous.run(type) { emt in
            seen.withLock { $0.append(emt.id) }
            return .success
        }
        #expect(status == .success)
        return seen.withLock { $0 }
    }

    @Test func ascendingAndDescendingOrder() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: Self.vcpus)
        try vm.powerOn()
        #expect(try order(.ascending, on: vm) == [0, 1, 2, 3])
        #expect(try order(.descending, on: vm) == [3, 2, 1, 0])
        try vm.powerOff()
    }

    @Test func onceRunsExactlyOneCallback() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: Self.vcpus)
        try vm.powerOn()
        #expect(try order(.once, on: vm).count == 1)
        try vm.powerOff()
    }

    @Test func oneByOneRunsEveryEMTOnceAndNeverTwoAtATime() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: Self.vcpus)
        try vm.powerOn()
        let inside = Atomic<Int>(0)
        let overlap = Atomic<Bool>(false)
        let seen = Mutex<[Int]>([])
        _ = try vm.emts.rendezvous.run(.oneByOne) { emt in
            if inside.add(1, ordering: .sequentiallyConsistent).newValue > 1 { overlap.store(true, ordering: .relaxed) }
            usleep(2000)
            seen.withLock { $0.append(emt.id) }
            inside.subtract(1, ordering: .sequentiallyConsistent)
            return .success
        }
        #expect(seen.withLock { $0.sorted() } == [0, 1, 2, 3])
        #expect(!Bool(overlap.load(ordering: .relaxed)))
        try vm.powerOff()
    }

    @Test func allAtOnceRunsEveryCallbackConcurrently() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: Self.vcpus)
        try vm.powerOn()
        let arrived = Atomic<Int>(0)
        let allMet = Atomic<Int>(0)
        _ = try vm.emts.rendezvous.run(.allAtOnce) { _ in
            arrived.add(1, ordering: .sequentiallyConsistent)
            // A barrier: only passable if every EMT is inside its callback at the same time.
            if eventually({ arrived.load(ordering: .sequentiallyConsistent) == Self.vcpus }) {
                allMet.add(1, ordering: .sequentiallyConsistent)
            }
            return .success
        }
        #expect(allMet.load(ordering: .sequentiallyConsistent) == Self.vcpus)
        try vm.powerOff()
    }

    @Test func noGuestRunsWhileACallbackRuns() throws {
        let (vm, cpus, _) = try makeFakeVM(vcpus: Self.vcpus)
        try vm.powerOn()
        #expect(eventually { cpus.allSatisfy { $0.runs.load(ordering: .relaxed) > 2 } })
        let stable = Atomic<Bool>(true)
        _ = try vm.emts.rendezvous.run(.once) { _ in
            let before = cpus.map { $0.runs.load(ordering: .relaxed) }
            usleep(20_000)
            if cpus.map({ $0.runs.load(ordering: .relaxed) }) != before { stable.store(false, ordering: .relaxed) }
            return .success
        }
        #expect(Bool(stable.load(ordering: .relaxed)))
        try vm.powerOff()
    }

    @Test func stopOnErrorSkipsLaterCallbacksAndFirstFailureWins() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: Self.vcpus)
        let seen = Mutex<[Int]>([])
        let status = try vm.emts.rendezvous.run(.descending, options: [.stopOnError]) { emt in
            seen.withLock { $0.append(emt.id) }
            return emt.id == 2 ? .failure(.callbackFailed("EMT 2 failed")) : .success
        }
        #expect(status == .failure(.callbackFailed("EMT 2 failed")))
        #expect(seen.withLock { $0 } == [3, 2])

        let all = Mutex<[Int]>([])
        let merged = try vm.emts.rendezvous.run(.ascending) { emt in
            all.withLock { $0.append(emt.id) }
            switch emt.id {
            case 1: return .failure(.callbackFailed("first"))
            case 3: return .failure(.callbackFailed("second"))
            default: return .info(.resume)
            }
        }
        #expect(merged == .failure(.callbackFailed("first")))
        #expect(all.withLock { $0 } == [0, 1, 2, 3])
    }

    @Test func mostImportantInformationalStatusIsReturned() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: Self.vcpus)
        let status = try vm.emts.rendezvous.run(.allAtOnce) { emt in
            emt.id == 2 ? .info(.suspend) : .info(.reschedule)
        }
        #expect(status == .info(.suspend))
    }

    @Test func invalidFlagsAreRefused() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: 2)
        #expect(throws: VMError.self) { try vm.emts.rendezvous.run(.allAtOnce, options: [.stopOnError]) { _ in .success } }
        #expect(throws: VMError.self) { try vm.emts.rendezvous.run(.once, options: [.stopOnError]) { _ in .success } }
    }

    @Test func nestedRendezvousIsRefused() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: 2)
        let inner = Mutex<VMError?>(nil)
        _ = try vm.emts.rendezvous.run(.once) { emt in
            do {
                _ = try vm.emts.rendezvous.run(.ascending) { _ in .success }
            } catch {
                inner.withLock { $0 = error as? VMError }
            }
            return .success
        }
        let error = inner.withLock { $0 }
        guard case .rendezvousRecursion = error else {
            Issue.record("expected rendezvousRecursion, got \(String(describing: error))")
            return
        }
    }

    @Test func concurrentInitiatorsFromThreadsAndEMTsAllComplete() throws {
        let (vm, _, _) = try makeFakeVM(vcpus: Self.vcpus)
        try vm.powerOn()
        let total = Atomic<Int>(0)
        let rounds = 40
        let done = Atomic<Int>(0)
        // Two plain threads and every EMT (through requests) start rendezvous at the same time.
        let workers = 2
        var threads: [pthread_t] = []
        final class Box: @unchecked Sendable { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
        for _ in 0..<workers {
            let box = Box {
                for _ in 0..<rounds {
                    _ = try? vm.emts.rendezvous.run(.descending) { _ in
                        total.add(1, ordering: .relaxed)
                        return .success
                    }
                }
                done.add(1, ordering: .sequentiallyConsistent)
            }
            var thread = pthread_t()
            pthread_create(&thread, nil, { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, Unmanaged.passRetained(box).toOpaque())
            threads.append(thread)
        }
        for id in 0..<Self.vcpus {
            try vm.emts.requests.call(.vcpu(id), wait: false) { _ in
                for _ in 0..<5 {
                    _ = try? vm.emts.rendezvous.run(.ascending) { _ in
                        total.add(1, ordering: .relaxed)
                        return .success
                    }
                }
                return .success
            }
        }
        for thread in threads { pthread_join(thread, nil) }
        #expect(done.load(ordering: .sequentiallyConsistent) == workers)
        #expect(eventually { total.load(ordering: .relaxed) == (workers * rounds + Self.vcpus * 5) * Self.vcpus })
        try vm.powerOff()
    }
}
