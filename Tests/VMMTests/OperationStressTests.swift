import Foundation
import Glibc
import Synchronization
import Testing
import VMM

/// Many suspend/resume operations from an outside thread against fake vCPUs that keep "running guest code":
/// every operation must come back (a lost wakeup anywhere in requests, rendezvous or parking would leave one
/// waiting forever). A watchdog thread reports the EMT picture if one operation takes more than 10 s.
@Suite struct OperationStressTests {
    @Test(arguments: [2, 3, 4])
    func thousandsOfSuspendResumeCyclesAllReturn(vcpus: Int) throws {
        let (vm, _, _) = try makeFakeVM(vcpus: vcpus)
        try vm.powerOn()
        let progress = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let stuck = Mutex<String?>(nil)
        let watchdog = Thread {
            var last = -1
            var still = 0
            while !stop.load(ordering: .relaxed) {
                usleep(100_000)
                let now = progress.load(ordering: .relaxed)
                still = now == last ? still + 1 : 0
                last = now
                if still == 100 {
                    stuck.withLock { $0 = "operation \(now) stuck for 10 s, VM \(vm.state)\n\(vm.emts.diagnostics())" }
                    print(stuck.withLock { $0 } ?? "")
                }
            }
        }
        watchdog.start()
        defer { stop.store(true, ordering: .relaxed) }
        for i in 0..<3_000 {
            if i % 2 == 0 { _ = try vm.suspend() } else { _ = try vm.resume() }
            progress.add(1, ordering: .relaxed)
        }
        stop.store(true, ordering: .relaxed)
        #expect(stuck.withLock { $0 } == nil)
        try vm.powerOff()
        try vm.destroy()
    }
}
