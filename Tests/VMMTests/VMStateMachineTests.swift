import Synchronization
import Testing
import VMM

@Suite struct VMStateMachineTests {
    @Test func everyForbiddenTransitionIsRefused() {
        var refused = 0
        for from in VMState.allCases {
            for to in VMState.allCases where !from.canTransition(to: to) {
                let machine = VMStateMachine(initial: from)
                #expect(throws: VMError.invalidTransition(from: from, to: to, requestedBy: "test")) {
                    try machine.transition(to: to, requestedBy: "test")
                }
                #expect(machine.state == from)
                refused += 1
            }
        }
        #expect(refused > 100)
    }

    @Test func everyAllowedTransitionIsTaken() throws {
        for (from, targets) in VMState.allowedTransitions {
            for to in targets {
                let machine = VMStateMachine(initial: from)
                try machine.transition(to: to, requestedBy: "test")
                #expect(machine.state == to)
                #expect(machine.previousState == from)
            }
        }
    }

    @Test func errorNamesCurrentStateAndRequest() {
        let machine = VMStateMachine(initial: .off)
        do {
            try machine.transition([(.suspended, .resuming)], for: .resume)
            Issue.record("resume of an off VM was accepted")
        } catch {
            #expect(error == .invalidState(operation: .resume, current: .off))
            #expect(error.description == "cannot resume: the VM is off")
        }
    }

    @Test func listenersRunInOrderAndSuspendReasonIsKept() throws {
        let machine = VMStateMachine(initial: .running)
        let seen = Mutex<[String]>([])
        machine.addListener { new, old in seen.withLock { $0.append("a:\(old)->\(new)") } }
        let token = machine.addListener { new, old in seen.withLock { $0.append("b:\(old)->\(new)") } }
        try machine.transition([(.running, .suspending)], for: .suspend, suspendReason: .ioError)
        #expect(machine.suspendReason == .ioError)
        #expect(machine.removeListener(token))
        try machine.transition(to: .suspended, requestedBy: "test")
        #expect(seen.withLock { $0 } == ["a:running->suspending", "b:running->suspending", "a:suspending->suspended"])
    }
}
