import PDM
import PluginTestKit
import Testing

/// The walk-order rules (reference §9, rules 1–5 adapted), on the real Probe plugins.
@Suite struct PowerWalkRuleTests {
    /// Rule 1: with a FIRST_* flag the device is notified (and finishes its async work) before any of its drivers;
    /// without it the device comes after all its drivers finished.
    @Test(arguments: [PowerOperation.suspend, .powerOff, .reset])
    func firstFlagOrdersDeviceBeforeItsDrivers(operation: PowerOperation) throws {
        let h = try probeHarness()
        let async: Settings = ["async-ms": .integer(30)]
        h.addDevice(probeDevice("ProbeFirst", async, chains: [[probeDriver(), probeDriver()]]))
        h.addDevice(probeDevice("Probe", chains: [[probeDriver(async)]]))
        try h.construct()
        try h.powerOn()
        h.clearLog()
        switch operation {
        case .suspend: try h.suspend()
        case .powerOff: try h.powerOff()
        default: try h.reset()
        }
        let op = operation.rawValue
        try h.expectOrder(["ProbeFirst/0: \(op)", "ProbeFirst/0: \(op)-done",
                           "ProbeFirst/0/0/Probe/0: \(op)", "ProbeFirst/0/0/Probe/1: \(op)"])
        try h.expectOrder(["Probe/0/0/Probe/2: \(op)", "Probe/0/0/Probe/2: \(op)-done", "Probe/0: \(op)"])
        // The FIRST device's async work held up its own drivers only: the other device's driver went first.
        try h.expectBefore("Probe/0/0/Probe/2: \(op)", "ProbeFirst/0: \(op)-done")
    }

    /// Rule 2: within a LUN drivers go top→bottom; a pending driver blocks only the drivers below it in its LUN
    /// (and its device), never other LUNs or other devices.
    @Test func pendingDriverBlocksOnlyItsOwnLUN() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(chains: [[probeDriver(["async-ms": .integer(60)]), probeDriver()], [probeDriver()]]))
        h.addDevice(probeDevice())
        try h.construct()
        try h.powerOn()
        h.clearLog()
        try h.suspend()
        let top = "Probe/0/0/Probe/0", below = "Probe/0/0/Probe/1", otherLUN = "Probe/0/1/Probe/2"
        try h.expectOrder(["\(top): suspend", "\(otherLUN): suspend", "Probe/1: suspend", "\(top): suspend-done",
                           "\(below): suspend", "Probe/0: suspend"])
        #expect(h.progressReports.first?.pending == [top])
    }

    /// A pending device does not hold up the devices after it.
    @Test func pendingDeviceDoesNotHoldUpOthers() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice("Probe", ["async-ms": .integer(60)]))
        h.addDevice(probeDevice("Probe"))
        try h.construct()
        try h.powerOn()
        h.clearLog()
        try h.suspend()
        try h.expectOrder(["Probe/0: suspend", "Probe/1: suspend", "Probe/0: suspend-done"])
    }

    /// Rule 3: power-on and resume go per device (instantiation order): drivers top→bottom, then the device;
    /// FIRST flags do not apply.
    @Test func powerOnAndResumeGoDriversThenDevice() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice("ProbeFirst", chains: [[probeDriver(), probeDriver()], [probeDriver()]]))
        h.addDevice(probeDevice("Probe", chains: [[probeDriver()]]))
        try h.construct()
        try h.powerOn()
        #expect(h.instances(logging: "powerOn") == ["ProbeFirst/0/0/Probe/0", "ProbeFirst/0/0/Probe/1",
                                                    "ProbeFirst/0/1/Probe/2", "ProbeFirst/0", "Probe/0/0/Probe/3", "Probe/0"])
        try h.suspend()
        try h.resume()
        #expect(h.instances(logging: "resume") == h.instances(logging: "powerOn"))
    }

    /// Rule 4: exactly once per instance per event; the poller runs until done but the callback once. A second
    /// suspend reaches nobody; every reset reaches everybody once.
    @Test func exactlyOncePerEvent() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice("Probe", ["async-ms": .integer(20)], chains: [[probeDriver(["async-ms": .integer(20)]), probeDriver()]]))
        try h.construct()
        try h.powerOn()
        try h.suspend()
        try h.suspend()
        for instance in ["Probe/0", "Probe/0/0/Probe/0", "Probe/0/0/Probe/1"] {
            try h.expectCount(instance, "suspend", 1)
        }
        try h.expectCount("Probe/0", "suspend-done", 1)
        try h.expectCount("Probe/0/0/Probe/0", "suspend-done", 1)
        try h.resume()
        try h.reset()
        try h.reset()
        for instance in ["Probe/0", "Probe/0/0/Probe/0", "Probe/0/0/Probe/1"] {
            try h.expectCount(instance, "reset", 2)
            try h.expectCount(instance, "resume", 1)
        }
        try h.expectCount("Probe/0", "reset-done", 2)
    }

    /// Rule 5: power-off reaches every instance, including those already suspended — and never-powered-on ones.
    @Test func powerOffReachesSuspendedInstances() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(chains: [[probeDriver(), probeDriver()]]))
        h.addDevice(probeDevice("ProbeFirst"))
        try h.construct()
        try h.powerOn()
        try h.suspend()
        try h.powerOff()
        for instance in ["Probe/0", "Probe/0/0/Probe/0", "Probe/0/0/Probe/1", "ProbeFirst/0"] {
            try h.expectCount(instance, "suspend", 1)
            try h.expectCount(instance, "powerOff", 1)
        }
        // Suspend before any power-on reaches nobody (instances start quiesced); power-off still reaches all.
        let fresh = try probeHarness()
        fresh.addDevice(probeDevice(chains: [[probeDriver()]]))
        try fresh.construct()
        try fresh.suspend()
        #expect(fresh.instances(logging: "suspend").isEmpty)
        try fresh.powerOff()
        #expect(fresh.instances(logging: "powerOff") == ["Probe/0/0/Probe/0", "Probe/0"])
    }

    /// Power-on failure: the walk stops; instances already powered on are powered off again; later ones untouched.
    @Test func powerOnFailureRollsBack() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(chains: [[probeDriver()]]))
        h.addDevice(probeDevice("Probe", ["fail-on": .string("powerOn")], chains: [[probeDriver()]]))
        h.addDevice(probeDevice(chains: [[probeDriver()]]))
        try h.construct()
        do {
            try h.powerOn()
            Issue.record("power-on should fail")
        } catch {
            guard case .callbackFailed(.powerOn, "Probe/1", _, nil) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(error.description.contains("Probe/1"))
        }
        #expect(h.instances(logging: "powerOn") == ["Probe/0/0/Probe/0", "Probe/0", "Probe/1/0/Probe/1", "Probe/1"])
        #expect(h.instances(logging: "powerOff") == ["Probe/0/0/Probe/0", "Probe/0", "Probe/1/0/Probe/1"])
        try h.expectNever("Probe/2", "powerOn")
        try h.expectNever("Probe/2/0/Probe/2", "powerOn")
    }

    /// A failing driver stops the walk before its device.
    @Test func driverPowerOnFailureRollsBack() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(chains: [[probeDriver(), probeDriver(["fail-on": .string("powerOn")])]]))
        try h.construct()
        #expect(throws: PDMError.self) { try h.powerOn() }
        #expect(h.instances(logging: "powerOn") == ["Probe/0/0/Probe/0", "Probe/0/0/Probe/1"])
        #expect(h.instances(logging: "powerOff") == ["Probe/0/0/Probe/0"])
    }

    /// Resume failure: instances already resumed are suspended again.
    @Test func resumeFailureRollsBack() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(chains: [[probeDriver()]]))
        h.addDevice(probeDevice("Probe", ["fail-on": .string("resume")]))
        h.addDevice(probeDevice())
        try h.construct()
        try h.powerOn()
        try h.suspend()
        h.clearLog()
        do {
            try h.resume()
            Issue.record("resume should fail")
        } catch {
            guard case .callbackFailed(.resume, "Probe/1", _, nil) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
        }
        #expect(h.instances(logging: "resume") == ["Probe/0/0/Probe/0", "Probe/0", "Probe/1"])
        #expect(h.instances(logging: "suspend") == ["Probe/0/0/Probe/0", "Probe/0"])
        // Everybody is quiesced again: a further suspend reaches nobody; power-off reaches all.
        h.clearLog()
        try h.suspend()
        #expect(h.instances(logging: "suspend").isEmpty)
    }

    /// Destroy: devices in reverse instantiation order, each LUN's drivers bottom→top, then the device.
    @Test func destructOrder() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(chains: [[probeDriver(), probeDriver()], [probeDriver()]], order: 20))
        h.addDevice(probeDevice(chains: [[probeDriver()]], order: 10))
        try h.construct()
        #expect(h.instances(logging: "construct") == ["Probe/1", "Probe/1/0/Probe/0", "Probe/0", "Probe/0/0/Probe/1",
                                                      "Probe/0/0/Probe/2", "Probe/0/1/Probe/3"])
        h.destroy()
        #expect(h.instances(logging: "destruct") == ["Probe/0/0/Probe/2", "Probe/0/0/Probe/1", "Probe/0/1/Probe/3", "Probe/0",
                                                     "Probe/1/0/Probe/0", "Probe/1"])
        #expect(h.pdm.state == .destroyed)
        #expect(h.pdm.instanceTree().isEmpty)
    }
}
