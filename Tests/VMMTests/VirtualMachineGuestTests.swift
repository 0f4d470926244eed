import Foundation
import Glibc
import PDM
import Synchronization
import Testing
import VMM

/// The VM operations with real KVM, real PVH guests and real plugins (dlopen'ed from the build products folder).
@Suite(.serialized) struct VirtualMachineGuestTests {
    static let statusPage: UInt64 = 0x10000

    /// Events in one order: state transitions ("old->new@emt") and Probe log lines ("probe:<message>@emt").
    final class EventLog: @unchecked Sendable {
        let events = Mutex<[String]>([])
        func append(_ event: String) { events.withLock { $0.append(event) } }
        var all: [String] { events.withLock { $0 } }
    }

    static func pluginFolder() -> URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    static func registry(_ plugins: [String]) throws -> PluginRegistry {
        let registry = PluginRegistry()
        for plugin in plugins {
            _ = try registry.load(path: pluginFolder().appendingPathComponent("lib\(plugin).so").path)
        }
        return registry
    }

    /// Builds a VM and an event log fed by the state listener and the PDM's plugin log observer.
    static func makeVM(guest: String, cmdline: String, cpus: Int, devices: [DeviceConfig],
                       plugins: [String]) throws -> (VirtualMachine, EventLog) {
        var config = VMConfiguration()
        config.machine = MachineSettings(cpus: cpus, memoryMiB: 64, kernel: try TestGuests.path(guest),
                                         cmdline: cmdline)
        config.devices = devices
        let log = EventLog()
        let pdm = PDMCore()
        let box = Mutex<VirtualMachine?>(nil)
        pdm.pluginLogObserver = { record in
            let emt = box.withLock { $0 }?.emts.currentEMT()?.id ?? -1
            log.append("\(record.instance):\(record.message)@\(emt)")
        }
        let vm = try VirtualMachine.create(configuration: config, registry: try registry(plugins), pdm: pdm)
        box.withLock { $0 = vm }
        vm.stateMachine.addListener { new, old in
            log.append("\(old)->\(new)@\(vm.emts.currentEMT()?.id ?? -1)")
        }
        return (vm, log)
    }

    static func counters(_ vm: VirtualMachine) throws -> [UInt64] {
        let memory = try #require(vm.parts?.machine.memory)
        return try (0..<vm.vcpuCount).map { try memory.load(UInt64.self, at: statusPage + 64 * UInt64($0)) }
    }

    @Test func smpCounterSuspendResumeResetPowerOff() throws {
        let probe = DeviceConfig(name: "Probe", settings: ["async-ms": .integer(100), "async-on": .string("suspend")])
        // COM1 with an async driver below it: AsyncDelay flushes for 150 ms on suspend.
        let serial = DeviceConfig(name: "Serial16550")
            .lun(0, DriverConfig(name: "AsyncDelay", settings: ["delay-ms": .integer(150)]))
        let (vm, log) = try Self.makeVM(guest: "smp-counter", cmdline: "cpus=2", cpus: 2, devices: [probe, serial],
                                        plugins: ["ProbeDevice", "Serial16550", "AsyncDelay"])
        let memory = try #require(vm.parts?.machine.memory)
        try vm.powerOn()
        #expect(vm.state == .running)
        // Both vCPUs reach ring 3 and count.
        #expect(eventually { (try? memory.load(UInt32.self, at: 0x10804)) == 2 })
        let early = try Self.counters(vm)
        #expect(eventually { ((try? Self.counters(vm)) ?? early).enumerated().allSatisfy { $0.element > early[$0.offset] } })

        #expect(try vm.suspend() == .done)
        #expect(vm.state == .suspended)
        #expect(eventually { vm.emts.emts.allSatisfy { $0.isParked } })
        let events = log.all
        // The PDM suspend ran on EMT 0 only, after EMT 1 moved to suspending; SUSPENDED only after the async
        // Probe completed.
        let begin = try #require(events.firstIndex(of: "running->suspending@1"))
        let end = try #require(events.firstIndex(of: "suspending->suspended@0"))
        #expect(begin < end)
        let window = Array(events[begin...end])
        // Both async instances finished before SUSPENDED, and every callback ran on EMT 0.
        #expect(window.contains("Probe/0:suspend@0"))
        #expect(window.contains("Probe/0:suspend-done@0"))
        #expect(window.contains("Serial16550/0/0/AsyncDelay/0:flushing (150 ms)@0"))
        #expect(window.contains("Serial16550/0/0/AsyncDelay/0:flushed@0"))
        #expect(window.dropFirst().dropLast().allSatisfy { $0.hasSuffix("@0") })
        #expect(!events[..<begin].contains { $0.contains(":suspend") || $0.contains(":flush") })

        // Counters do not advance while suspended, nor does the device clock ...
        let timers = try #require(vm.parts?.machine.timers)
        #expect(timers.isPaused)
        let frozen = try Self.counters(vm)
        let clock = timers.clockNanoseconds
        usleep(50_000)
        #expect(try Self.counters(vm) == frozen)
        #expect(timers.clockNanoseconds == clock)
        #expect(try vm.suspend() == .alreadyInState(.suspended))

        // ... and both advance again after resume.
        #expect(try vm.resume() == .done)
        #expect(!timers.isPaused)
        #expect(eventually { timers.clockNanoseconds > clock })
        #expect(eventually { ((try? Self.counters(vm)) ?? frozen).enumerated().allSatisfy { $0.element > frozen[$0.offset] } })
        #expect(try vm.resume() == .alreadyInState(.running))

        // Reset from suspended: the guest boots again after resume (it re-announces itself in the status page).
        try vm.suspend()
        try memory.store(UInt32(0), at: 0x10800)
        try memory.store(UInt32(0), at: 0x10804)
        #expect(try vm.reset() == .done)
        #expect(vm.state == .suspended)
        try vm.resume()
        #expect(eventually { (try? memory.load(UInt32.self, at: 0x10800)) == 0x474d_4856 })
        #expect(eventually { (try? memory.load(UInt32.self, at: 0x10804)) == 2 })

        // Reset while running.
        try memory.store(UInt32(0), at: 0x10800)
        #expect(try vm.reset() == .done)
        #expect(vm.state == .running)
        #expect(eventually { (try? memory.load(UInt32.self, at: 0x10800)) == 0x474d_4856 })

        try vm.powerOff()
        #expect(vm.state == .off)
        #expect(log.all.contains("Probe/0:powerOff@0"))
        #expect(log.all.filter { $0.contains("Probe/0:reset") }.allSatisfy { $0.hasSuffix("@0") })
        try vm.destroy()
        #expect(vm.state == .terminated)
    }

    /// While EMT 0 waits inside the real PDM suspend walk for an async Probe, a priority request to EMT 0 is
    /// served (and answered while the VM is still suspending); a normal one waits until the walk is over.
    @Test func priorityRequestIsServedDuringARealAsyncSuspendWalk() throws {
        let probe = DeviceConfig(name: "Probe", settings: ["async-ms": .integer(400), "async-on": .string("suspend")])
        let (vm, log) = try Self.makeVM(guest: "smp-counter", cmdline: "cpus=2", cpus: 2, devices: [probe],
                                        plugins: ["ProbeDevice"])
        try vm.powerOn()
        final class Box: @unchecked Sendable { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
        let outcome = Mutex<VMOperationOutcome?>(nil)
        let box = Box { outcome.withLock { $0 = try? vm.suspend() } }
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(box).toOpaque())
        #expect(eventually { log.all.contains("Probe/0:suspend@0") })
        let normalRan = Mutex<VMState?>(nil)
        try vm.emts.requests.call(.vcpu(0), wait: false) { _ in normalRan.withLock { $0 = vm.state }; return .success }
        let seen = Mutex<VMState?>(nil)
        let status = try vm.emts.requests.call(.vcpu(0), priority: true) { emt in
            seen.withLock { $0 = vm.state }
            return emt.id == 0 ? .success : .failure(.callbackFailed("ran on EMT \(emt.id)"))
        }
        #expect(status == .success)
        #expect(seen.withLock { $0 } == .suspending)
        pthread_join(thread, nil)
        #expect(outcome.withLock { $0 } == .done)
        #expect(eventually { normalRan.withLock { $0 } != nil })
        #expect(normalRan.withLock { $0 } == .suspended)
        try vm.powerOff()
        try vm.destroy()
    }

    /// vCPU 1 is never started by the guest (cpus=1 on a 2-vCPU VM): it stays in wait-for-SIPI, blocked inside
    /// KVM_RUN by the in-kernel LAPIC. Suspend must still kick it out, and power-off too.
    @Test func vcpuBlockedInTheKernelIsKickedBySuspend() throws {
        let (vm, log) = try Self.makeVM(guest: "smp-counter", cmdline: "cpus=1", cpus: 2, devices: [], plugins: [])
        let memory = try #require(vm.parts?.machine.memory)
        try vm.powerOn()
        #expect(eventually { (try? memory.load(UInt32.self, at: 0x10804)) == 1 })
        for _ in 0..<5 {
            #expect(try vm.suspend() == .done)
            #expect(eventually { vm.emts.emts.allSatisfy { $0.isParked } })
            #expect(try vm.resume() == .done)
        }
        #expect(try vm.powerOff() == .done)
        #expect(log.all.filter { $0.hasPrefix("running->suspending") }.allSatisfy { $0.hasSuffix("@1") })
        try vm.destroy()
    }

    @Test func tripleFaultEntersGuruMeditationAndTheVMStillAnswers() throws {
        let (vm, _) = try Self.makeVM(guest: "triple-fault", cmdline: "", cpus: 2, devices: [], plugins: [])
        try vm.powerOn()
        #expect(vm.waitForState(timeoutNanoseconds: 10_000_000_000) { $0 == .guruMeditation } == .guruMeditation)
        let report = try #require(vm.guruMeditation)
        #expect(report.vcpu == 0)
        #expect(!report.registers.isEmpty)
        #expect(throws: VMError.invalidState(operation: .resume, current: .guruMeditation)) { try vm.resume() }
        #expect(try vm.powerOff() == .done)
        #expect(vm.state == .off)
        try vm.destroy()
    }

    @Test func debugExitPowersOffWithTheGuestsExitStatus() throws {
        let (vm, _) = try Self.makeVM(guest: "hello", cmdline: "", cpus: 1,
                                      devices: [DeviceConfig(name: "DebugExit")], plugins: ["DebugExit"])
        try vm.powerOn()
        #expect(vm.waitForState(timeoutNanoseconds: 20_000_000_000) { $0 == .off } == .off)
        #expect(vm.requestedExitStatus == 33)
        try vm.destroy()
    }
}
