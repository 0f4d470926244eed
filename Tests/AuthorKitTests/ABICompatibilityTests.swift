import Foundation
import PluginTestKit
import Testing

/// docs/abi-compatibility.md, enforced: a plugin built against an older minor (the frozen ABI 1.0 header) loads
/// and works on this host; one built against a newer minor than the host implements is refused, by the ABI note
/// before any of its code runs, and — when it has no note — by its registration struct, with a message naming the
/// table and both versions.
@Suite(.serialized)
struct ABICompatibilityTests {
    private func compileTally(header: URL, label: String, stripNote: Bool = false) throws -> URL {
        let dir = try Workspace.temporaryDirectory(label)
        let so = try Workspace.compileC([Workspace.cExample.appendingPathComponent("tally.c")],
                                        includeDirectory: header, into: dir, as: "libTally.so")
        if stripNote {
            let outcome = try Workspace.run(["objcopy", "--remove-section", ".note.vmhost", so.path])
            try #require(outcome.status == 0, "\(outcome)")
        }
        return so
    }

    @Test func pluginBuiltAgainstFrozenABI10LoadsAndRuns() throws {
        let so = try compileTally(header: Workspace.frozenHeaderDirectory, label: "abi10")
        let h = PluginTestHarness()
        let module = try h.loadPlugin(path: so.path)
        let note = try #require(module.abiNote)
        for table in ABITable.allCases {
            let built = try #require(note.version(of: table))
            #expect(built.major == 1 && built.minor == 0, "\(table): the frozen header says \(built)")
            #expect(table.hostVersion.satisfies(built: built))
        }
        h.addDevice(DeviceConfig(name: "Tally"))
        try h.construct()
        try h.powerOn()
        h.portOut(0x520, size: 4, value: 5)
        h.portOut(0x520, size: 4, value: 6)
        #expect(h.portIn(0x520, size: 4).value == 11)
    }

    /// A plugin built against the frozen device-helpers 1.1 header (the minor before the device clock) loads and
    /// runs on this host.
    @Test func pluginBuiltAgainstFrozenDeviceHelpers11LoadsAndRuns() throws {
        let so = try compileTally(header: Workspace.frozenHeader11Directory, label: "abi11")
        let h = PluginTestHarness()
        let module = try h.loadPlugin(path: so.path)
        let note = try #require(module.abiNote)
        let helpers = try #require(note.version(of: .deviceHelpers))
        #expect(helpers.major == 1 && helpers.minor == 1)
        #expect(ABITable.deviceHelpers.hostVersion.minor > helpers.minor)
        h.addDevice(DeviceConfig(name: "Tally"))
        try h.construct()
        try h.powerOn()
        h.portOut(0x520, size: 4, value: 7)
        #expect(h.portIn(0x520, size: 4).value == 7)
    }

    /// The frozen fixture is truly older than this host in at least one table (so the test above loads a plugin
    /// of an older minor, not merely an equal one).
    @Test func frozenHeaderIsOlderThanTheHost() throws {
        let so = try compileTally(header: Workspace.frozenHeaderDirectory, label: "abi10-older")
        let note = try #require(try PluginRegistry.inspect(path: so.path).abiNote)
        let older = ABITable.allCases.filter { table in
            guard let built = note.version(of: table) else { return false }
            return built.minor < table.hostVersion.minor
        }
        #expect(!older.isEmpty, "every table of the host is still at the frozen 1.0: nothing older is tested")
        #expect(older.contains(.deviceHelpers))
    }

    /// Every table: a plugin whose note records a minor above the host's is refused before its code runs, and the
    /// reason names the table, its macro, the version built for and the version this host implements.
    @Test(arguments: [
        ("VMH_ABI_VERSION", "0x564d", ABITable.abi),
        ("VMH_REGISTRAR_VERSION", "0xa001", .registrar),
        ("VMH_DEVREG_VERSION", "0xa010", .deviceRegistration),
        ("VMH_DEVINS_VERSION", "0xa011", .deviceInstance),
        ("VMH_DEVHLP_VERSION", "0xa012", .deviceHelpers),
        ("VMH_DRVREG_VERSION", "0xa020", .driverRegistration),
        ("VMH_DRVINS_VERSION", "0xa021", .driverInstance),
        ("VMH_DRVHLP_VERSION", "0xa022", .driverHelpers),
    ])
    func newerMinorIsRefusedByTheNote(macro: String, magic: String, table: ABITable) throws {
        let dir = try Workspace.temporaryDirectory("newer-\(macro)")
        let host = table.hostVersion
        let newer = Int(host.minor) + 1
        let header = try Workspace.headerWithVersion(macro: macro, magic: magic, major: Int(host.major),
                                                     minor: newer, in: dir)
        let so = try compileTally(header: header, label: "newer-so-\(macro)")
        do {
            _ = try PluginRegistry().load(path: so.path)
            Issue.record("a plugin built for \(macro) \(host.major).\(newer) was accepted")
        } catch {
            #expect(error.kind == .abiMismatch)
            #expect(error.reason == "built for \(table.displayName) \(host.major).\(newer) (\(macro)), "
                    + "this host implements \(host.majorMinor)", "\(error)")
        }
    }

    /// Without a note the host still refuses a newer device-helper minor, from the registration's hlpVersion.
    @Test func newerHelperMinorWithoutNoteIsRefusedByTheRegistration() throws {
        let dir = try Workspace.temporaryDirectory("newer-nonote")
        let host = ABITable.deviceHelpers.hostVersion
        let newer = Int(host.minor) + 1
        let header = try Workspace.headerWithVersion(macro: "VMH_DEVHLP_VERSION", magic: "0xa012",
                                                     major: Int(host.major), minor: newer, in: dir)
        let so = try compileTally(header: header, label: "newer-nonote-so", stripNote: true)
        #expect(try PluginRegistry.inspect(path: so.path).abiNote == nil)
        let registry = PluginRegistry()
        do {
            _ = try registry.load(path: so.path)
            Issue.record("a note-less plugin built for device helpers \(host.major).\(newer) was accepted")
        } catch {
            #expect(error.reason.contains("device 'Tally'"), "\(error)")
            #expect(error.reason.contains("built for device helpers \(host.major).\(newer) (VMH_DEVHLP_VERSION), "
                                          + "this host implements \(host.majorMinor)"), "\(error)")
        }
        #expect(registry.devices.isEmpty)
    }

    /// A newer minor of the registration struct itself, without a note.
    @Test func newerRegistrationMinorWithoutNoteIsRefused() throws {
        let dir = try Workspace.temporaryDirectory("newer-devreg")
        let host = ABITable.deviceRegistration.hostVersion
        let header = try Workspace.headerWithVersion(macro: "VMH_DEVREG_VERSION", magic: "0xa010",
                                                     major: Int(host.major), minor: Int(host.minor) + 3, in: dir)
        let so = try compileTally(header: header, label: "newer-devreg-so", stripNote: true)
        do {
            _ = try PluginRegistry().load(path: so.path)
            Issue.record("accepted")
        } catch {
            #expect(error.reason.contains("built for device registration \(host.major).\(host.minor + 3) "
                                          + "(VMH_DEVREG_VERSION), this host implements \(host.majorMinor)"),
                    "\(error)")
        }
    }

    /// Another major is refused even when its minor is lower.
    @Test func otherMajorIsRefused() throws {
        let dir = try Workspace.temporaryDirectory("major")
        let header = try Workspace.headerWithVersion(macro: "VMH_DEVHLP_VERSION", magic: "0xa012", major: 2,
                                                     minor: 0, in: dir)
        let so = try compileTally(header: header, label: "major-so")
        do {
            _ = try PluginRegistry().load(path: so.path)
            Issue.record("accepted")
        } catch {
            #expect(error.reason == "built for device helpers 2.0 (VMH_DEVHLP_VERSION), this host implements "
                    + ABITable.deviceHelpers.hostVersion.majorMinor, "\(error)")
        }
    }
}
