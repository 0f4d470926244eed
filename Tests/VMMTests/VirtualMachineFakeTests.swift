import Glibc
import Synchronization
import Testing
import VMM

/// The VM choreography over fake vCPUs and a fake PDM (pure threading logic).
@Suite(.serialized) struct VirtualMachineFakeTests {
    @Test func suspendChoreography() throws {
        let (vm, cpus, devices) = try makeFakeVM(vcpus: 3)
        let transitions = Mutex<[String]>([])
        vm.stateMachine.addListener { new, old in
            let emt = vm.emts.currentEMT()?.id ?? -1
            transitions.withLock { $0.append("\(old)->\(new)@\(emt)") }
        }
        try vm.powerOn()
        #expect(eventually { cpus.allSatisfy { $0.runs.load(ordering: .relaxed) > 3 } })
        #expect(try vm.suspend(reason: .host) == .done)
        #expect(vm.state == .suspended)
        #expect(vm.stateMachine.suspendReason == .host)
        #expect(transitions.withLock { $0 } == [
            "created->poweringOn@2", "poweringOn->running@0", "running->suspending@2", "suspending->suspended@0",
        ])
        #expect(devices.calls.withLock { $0 } == [.init(walk: "powerOn", emt: 0), .init(walk: "suspend", emt: 0)])
        let frozen = cpus.map { $0.runs.load(ordering: .relaxed) }
        usleep(30_000)
        #expect(cpus.map { $0.runs.load(ordering: .relaxed) } == frozen)
        #expect(try vm.suspend() == .alreadyInState(.suspended))
        #expect(try vm.resume() == .done)
        #expect(eventually { zip(cpus, frozen).allSatisfy { $0.runs.load(ordering: .relaxed) > $1 + 2 } })
        #expect(try vm.resume() == .alreadyInState(.running))
        try vm.powerOff()
        #expect(vm.state == .off)
        #expect(devices.walks() == ["powerOn", "suspend", "resume", "powerOff"])
        try vm.destroy()
        #expect(devices.walks().last == "destroy")
    }

    @Test func concurrentSuspendsFromManyThreadsGiveOneDoneAndHarmlessAnswers() throws {
        let (vm, _, devices) = try makeFakeVM(vcpus: 2)
        try vm.powerOn()
        let outcomes = Mutex<[VMOperationOutcome]>([])
        final class Box: @unchecked Sendable { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
        var threads: [pthread_t] = []
        for _ in 0..<4 {
            let box = Box {
                if let outcome = try? vm.suspend() { outcomes.withLock { $0.append(outcome) } }
            }
            var thread = pthread_t()
            pthread_create(&thread, nil, { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body(); return nil
            }, Unmanaged.passRetained(box).toOpaque())
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        let all = outcomes.withLock { $0 }
        #expect(all.count == 4)
        #expect(all.filter { $0 == .done }.count == 1)
        #expect(all.filter { $0 == .alreadyInState(.suspended) }.count == 3)
        #expect(devices.walks().filter { $0 == "suspend" }.count == 1)
        try vm.powerOff()
    }

    @Test func operationsFromTheWrongStateAreRefused() throws {
        let (vm, _, devices) = try makeFakeVM(vcpus: 2)
        #expect(throws: VMError.invalidState(operation: .suspend, current: .created)) { try vm.suspend() }
        #expect(throws: VMError.invalidState(operation: .resume, current: .created)) { try vm.resume() }
        #expect(throws: VMError.invalidState(operation: .reset, current: .created)) { try vm.reset() }
        try vm.powerOn()
        #expect(throws: VMError.invalidState(operation: .powerOn, current: .running)) { try vm.powerOn() }
        try vm.powerOff()
        #expect(try vm.powerOff() == .alreadyInState(.off))
        #expect(throws: VMError.invalidState(operation: .resume, current: .off)) { try vm.resume() }
        #expect(devices.walks() == ["powerOn", "powerOff"])
    }

    @Test func failedResumeStaysSuspended() throws {
        let (vm, _, devices) = try makeFakeVM(vcpus: 2)
        try vm.powerOn()
        try vm.suspend()
        devices.failResume.store(true, ordering: .relaxed)
        #expect(throws: VMError.deviceWalkFailed(operation: .resume, message: "Probe failed resume")) { try vm.resume() }
        #expect(vm.state == .suspended)
        devices.failResume.store(false, ordering: .relaxed)
        #expect(try vm.resume() == .done)
        try vm.powerOff()
    }

    @Test func resetResetsEveryVCPUAndReturnsToThePreviousState() throws {
        let (vm, cpus, devices) = try makeFakeVM(vcpus: 2)
        try vm.powerOn()
        try vm.reset()
        #expect(vm.state == .running)
        try vm.suspend()
        try vm.reset()
        #expect(vm.state == .suspended)
        #expect(cpus.map { $0.resets.load(ordering: .relaxed) } == [2, 2])
        #expect(devices.walks() == ["powerOn", "reset", "suspend", "reset"])
        try vm.powerOff()
    }

    @Test func fatalVCPUConditionEntersGuruMeditationAndPowerOffStillWorks() throws {
        let (vm, cpus, devices) = try makeFakeVM(vcpus: 2)
        try vm.powerOn()
        cpus[1].injected.withLock { $0 = .shutdown(reason: "triple fault", registers: "rip=0xdead (fake vCPU 1)") }
        #expect(vm.waitForState(timeoutNanoseconds: 5_000_000_000) { $0 == .guruMeditation } == .guruMeditation)
        #expect(vm.guruMeditation?.vcpu == 1)
        #expect(vm.guruMeditation?.registers.contains("fake vCPU 1") == true)
        let frozen = cpus.map { $0.runs.load(ordering: .relaxed) }
        usleep(20_000)
        #expect(cpus.map { $0.runs.load(ordering: .relaxed) } == frozen)
        #expect(throws: VMError.invalidState(operation: .suspend, current: .guruMeditation)) { try vm.suspend() }
        try vm.powerOff()
        #expect(vm.state == .off)
        #expect(devices.walks() == ["powerOn", "powerOff"])
    }

    @Test func devicePowerOffRequestFromAnEMTPowersOffWithItsExitStatus() throws {
        let (vm, cpus, devices) = try makeFakeVM(vcpus: 2)
        try vm.powerOn()
        cpus[0].duringRun.withLock { $0 = { vm.requestPowerOff(exitStatus: 7) } }
        #expect(vm.waitForState(timeoutNanoseconds: 5_000_000_000) { $0 == .off } == .off)
        #expect(vm.requestedExitStatus == 7)
        #expect(devices.walks() == ["powerOn", "powerOff"])
    }
}
