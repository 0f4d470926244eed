import PDM
import PluginTestKit
import Testing

/// VM creation: order, containment of failures, configuration errors that reach the registry or a plugin.
@Suite struct ConstructionTests {
    /// A device constructor failure fails VM creation naming the device; everything already constructed is
    /// destructed bottom-up and later devices are never constructed.
    @Test func constructorFailureIsContained() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(chains: [[probeDriver(), probeDriver()]]))
        h.addDevice(probeDevice("Probe", ["fail-on": .string("construct")]))
        h.addDevice(probeDevice())
        do {
            try h.construct()
            Issue.record("construct should fail")
        } catch {
            guard case .constructionFailed("Probe/1", "devices[1]", _, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(error.description.hasPrefix("devices[1]: device Probe/1 failed to construct"))
        }
        #expect(h.instances(logging: "construct") == ["Probe/0", "Probe/0/0/Probe/0", "Probe/0/0/Probe/1", "Probe/1"])
        let destructed = h.instances(logging: "destruct")
        #expect(destructed.suffix(3) == ["Probe/0/0/Probe/1", "Probe/0/0/Probe/0", "Probe/0"])
        #expect(!destructed.contains("Probe/2"))
        #expect(h.pdm.state == .destroyed)
        #expect(throws: PDMError.self) { try h.powerOn() }
    }

    /// A driver constructor failure deep in a chain: the error names the driver's key path.
    @Test func driverConstructorFailureNamesItsKeyPath() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(chains: [[probeDriver(), probeDriver(["fail-on": .string("construct")])]]))
        do {
            try h.construct()
            Issue.record("construct should fail")
        } catch {
            #expect(error.description.contains("Probe/0/0/Probe/1 (devices[0].luns[0].driver.below) failed to construct"))
        }
        #expect(h.instances(logging: "construct") == ["Probe/0", "Probe/0/0/Probe/0", "Probe/0/0/Probe/1"])
        #expect(h.pdm.state == .destroyed)
    }

    /// A configured LUN the device does not attach fails VM creation naming the LUN.
    @Test func unattachedConfiguredLUNFails() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice("Probe", ["luns": .integer(1)], chains: [[probeDriver()], [probeDriver()]]))
        do {
            try h.construct()
            Issue.record("construct should fail")
        } catch {
            guard case .lunNotAttached("Probe/0", 1, "devices[0].luns[1].driver", _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
        }
        #expect(h.instances(logging: "destruct") == ["Probe/0/0/Probe/0", "Probe/0"])
    }

    /// Ascending order (configuration `order:` overrides the registration's), ties keep configuration order,
    /// instance numbers follow configuration order.
    @Test func instantiationOrder() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(order: 30))
        h.addDevice(probeDevice("ProbeFirst"))
        h.addDevice(probeDevice(order: 5))
        h.addDevice(probeDevice(order: 30))
        try h.construct()
        #expect(h.pdm.instanceTree().map(\.name) == ["Probe/1", "Probe/0", "Probe/2", "ProbeFirst/0"])
        #expect(h.instances(logging: "construct") == ["Probe/1", "Probe/0", "Probe/2", "ProbeFirst/0"])
        #expect(h.instances(logging: "initComplete") == ["Probe/1", "Probe/0", "Probe/2", "ProbeFirst/0"])
    }

    @Test func unknownDeviceAndDriverNamesNameTheirKeyPath() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice())
        h.addDevice(DeviceConfig(name: "Nope"))
        #expect(throws: PDMError.self) { try h.construct() }
        do { try h.construct() } catch {
            // The PDM refuses a second construct; the first error is checked below on a fresh harness.
            #expect(error.description.contains("construct"))
        }
        let fresh = try probeHarness()
        fresh.addDevice(DeviceConfig(name: "Nope"))
        do { try fresh.construct() } catch {
            #expect(error.description == "devices[0].name: no device named 'Nope' is registered")
        }
        let deep = try probeHarness()
        deep.addDevice(probeDevice(chains: [[probeDriver(), DriverConfig(name: "Missing")]]))
        do { try deep.construct() } catch {
            #expect(error.description == "devices[0].luns[0].driver.below.name: no driver named 'Missing' is registered")
        }
        #expect(deep.instances(logging: "construct").isEmpty)
    }

    /// A plugin's typed query of a value of the wrong type, or an unknown key, is reported with the key path.
    @Test func pluginConfigErrorsCarryTheKeyPath() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice("Probe", ["luns": .string("two")]))
        do {
            try h.construct()
            Issue.record("construct should fail")
        } catch {
            #expect(error.description.contains("devices[0].settings.luns: expected an integer, got a string"))
        }
        let unknown = try probeHarness()
        unknown.addDevice(probeDevice(chains: [[probeDriver(), probeDriver(["colour": .string("red")])]]))
        do {
            try unknown.construct()
            Issue.record("construct should fail")
        } catch {
            #expect(error.description.contains("devices[0].luns[0].driver.below.settings.colour: unknown key"))
        }
    }

    @Test func maxInstancesIsEnforced() throws {
        let h = try probeHarness()
        for _ in 0..<65 { h.addDevice(probeDevice()) }
        do {
            try h.construct()
            Issue.record("construct should fail")
        } catch {
            #expect(error.description == "devices[64]: too many instances of device 'Probe' (it allows 64)")
        }
        #expect(h.instances(logging: "construct").isEmpty)
    }

    /// The instance tree lists devices, LUN chains and driver names in walk order.
    @Test func instanceTree() throws {
        let h = try probeHarness()
        h.addDevice(probeDevice(chains: [[probeDriver(), probeDriver()], [probeDriver()]]))
        try h.construct()
        let tree = h.pdm.instanceTree()
        #expect(tree.count == 1)
        #expect(tree[0].deviceName == "Probe")
        #expect(tree[0].luns.map(\.lun) == [0, 1])
        #expect(tree[0].luns[0].drivers.map(\.name) == ["Probe/0/0/Probe/0", "Probe/0/0/Probe/1"])
        #expect(tree[0].luns[1].drivers.map(\.driverName) == ["Probe"])
        #expect(!tree[0].asyncPending)
    }
}
