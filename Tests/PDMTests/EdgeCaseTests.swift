import CVMHostABI
import Glibc
import PDM
import PluginTestKit
import Synchronization
import Testing

nonisolated(unsafe) let threadSafeDevice = StaticRegistrations.device(name: "ThreadSafe", flags: UInt32(VMH_DEVREG_F_THREAD_SAFE)) { reg in
    reg.construct = { _ in VMH_OK }
}
nonisolated(unsafe) let lockedDevice = StaticRegistrations.device(name: "Locked") { reg in
    reg.construct = { _ in VMH_OK }
}
let lockEntry: VMHPluginEntry = { registrar, _ in
    guard let r = registrar?.pointee else { return VMH_ERR_INVALID_PARAMETER }
    let rc = r.registerDevice(registrar, threadSafeDevice)
    return rc == VMH_OK ? r.registerDevice(registrar, lockedDevice) : rc
}

/// Holds a device for a helper thread.
final class LockProbe: @unchecked Sendable {
    let device: DeviceInstance
    let entered = Atomic<Bool>(false)
    init(device: DeviceInstance) { self.device = device }
}

@Suite struct EdgeCaseTests {
    /// A power-on rollback that cannot finish (its power-off never completes) reports both failures.
    @Test func failedRollbackIsReported() throws {
        let h = try probeHarness(deadline: 200)
        h.addDevice(probeDevice("Probe", ["never-complete": .bool(true), "async-on": .string("powerOff")]))
        h.addDevice(probeDevice("Probe", ["fail-on": .string("powerOn")]))
        try h.construct()
        do {
            try h.powerOn()
            Issue.record("power-on should fail")
        } catch {
            guard case .callbackFailed(.powerOn, "Probe/1", VMH_ERR_GENERAL, let rollback?) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(rollback.contains("never finished: Probe/0"))
        }
        #expect(h.asyncState().failedToQuiesce == ["Probe/0"])
    }

    /// A configuration from the command-line syntax constructs like one from a file.
    @Test func commandLineDeviceConstructs() throws {
        let h = try probeHarness()
        h.addDevice(try DeviceConfig(commandLine: "Probe,luns=1,lun0=Probe(async-ms=0)/Probe"))
        try h.construct()
        #expect(h.pdm.instanceTree().first?.luns.first?.drivers.map(\.name) == ["Probe/0/0/Probe/0", "Probe/0/0/Probe/1"])
    }

    /// The per-device lock serialises withLock callers; a THREAD_SAFE device gets none.
    @Test func perDeviceLock() throws {
        let h = PluginTestHarness()
        try h.registerStatic(moduleName: "locks", entry: lockEntry)
        h.addDevice(DeviceConfig(name: "ThreadSafe"))
        h.addDevice(DeviceConfig(name: "Locked"))
        try h.construct()
        let safe = try #require(h.pdm.device(named: "ThreadSafe/0"))
        let locked = try #require(h.pdm.device(named: "Locked/0"))
        #expect(safe.isThreadSafe)
        #expect(!locked.isThreadSafe)
        #expect(locked.devIns.pointee.name.map { String(cString: $0) } == "Locked/0")

        for (device, excludes) in [(locked, true), (safe, false)] {
            let probe = LockProbe(device: device)
            var thread = pthread_t()
            var enteredWhileHeld = false
            device.withLock {
                let context = Unmanaged.passRetained(probe).toOpaque()
                pthread_create(&thread, nil, { raw in
                    guard let raw else { return nil }
                    let probe = Unmanaged<LockProbe>.fromOpaque(raw).takeRetainedValue()
                    probe.device.withLock { probe.entered.store(true, ordering: .releasing) }
                    return nil
                }, context)
                var pause = timespec(tv_sec: 0, tv_nsec: 100_000_000)
                nanosleep(&pause, nil)
                enteredWhileHeld = probe.entered.load(ordering: .acquiring)
            }
            pthread_join(thread, nil)
            #expect(enteredWhileHeld == !excludes)
            let enteredAfterwards = probe.entered.load(ordering: .acquiring)
            #expect(enteredAfterwards)
        }
    }

    /// Walks before construct or after destroy, and a second construct, are refused.
    @Test func wrongStates() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice())
        #expect(throws: PDMError.self) { try h.suspend() }
        try h.construct()
        #expect(throws: PDMError.self) { try h.construct() }
        h.destroy()
        h.destroy()
        #expect(h.instances(logging: "destruct") == ["Probe/0"])
        #expect(throws: PDMError.self) { try h.powerOn() }
    }
}
