import CVMHostABI
import Foundation
import PDM
import Synchronization
import Testing

/// The loader and registry against a corpus of C plugins compiled at test time, each broken in one way, plus the
/// real plugin products. Every refusal must be the exact one-line message and leave the registry unchanged.
@Suite struct PluginLoaderTests {
    /// A temporary directory holding compiled fixtures; each test removes it with `remove()` (deferred).
    struct Corpus {
        let directory: URL
        init() throws { directory = try TestFixtures.makeTemporaryDirectory("loader") }
        func remove() { try? FileManager.default.removeItem(at: directory) }

        func build(_ name: String, _ defines: [String] = []) throws -> String {
            try TestFixtures.compilePlugin("good_plugin.c", into: directory, as: name, defines: defines).path
        }
    }

    /// Loads `path`, expects the refusal `<path>: <reason>` of `kind`, and an empty registry afterwards.
    private func expectRefusal(_ path: String, kind: PluginLoadError.Kind, reason: String,
                               registry: PluginRegistry = PluginRegistry(),
                               sourceLocation: SourceLocation = #_sourceLocation) {
        let before = (registry.modules.count, registry.devices.count, registry.drivers.count)
        do {
            let module = try registry.load(path: path)
            Issue.record("loaded \(module), expected refusal: \(reason)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.description == "\(path): \(reason)", sourceLocation: sourceLocation)
            #expect(error.kind == kind, sourceLocation: sourceLocation)
            #expect(error.path == path, sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
        let after = (registry.modules.count, registry.devices.count, registry.drivers.count)
        #expect(before == after, "registry changed by a refused module", sourceLocation: sourceLocation)
    }

    // MARK: Good modules

    @Test func loadsGoodCPlugin() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libGood.so")
        let registry = PluginRegistry()
        let module = try registry.load(path: path)
        #expect(module.name == "Good")
        #expect(module.path == path)
        #expect(module.deviceNames == ["FixtureDevice"])
        #expect(module.driverNames == ["FixtureDriver"])
        let note = try #require(module.abiNote)
        for table in ABITable.allCases {
            // The note written by the header's VMH_DECLARE_ABI_NOTE agrees with the host's Swift constants.
            #expect(note.version(of: table) == table.hostVersion, "\(table.macroName)")
        }
        let device = try #require(registry.device(named: "FixtureDevice"))
        #expect(device.summary == "Fixture device for the loader tests")
        #expect(device.maxInstances == 4 && device.instanceSize == 64 && device.order == VMH_DEVORDER_MISC)
        #expect(device.module.path == path)
        #expect(device.registration.pointee.construct != nil)
        #expect(device.registration.pointee.version == ABITable.deviceRegistration.hostVersion.rawValue)
        #expect(device.helperVersion == ABITable.deviceHelpers.hostVersion)
        let driver = try #require(registry.driver(named: "FixtureDriver"))
        #expect(driver.helperVersion == ABITable.driverHelpers.hostVersion)
        #expect(driver.maxInstances == 8 && driver.instanceSize == 16)
        #expect(registry.device(named: "FixtureDriver") == nil)
        #expect(registry.modules.map(\.name) == ["Good"])
        // The same file a second time is refused and changes nothing.
        expectRefusal(path, kind: .alreadyLoaded, reason: "already loaded (as \(path))", registry: registry)
    }

    @Test func loadsPluginWithoutNote() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libNoNote.so", ["NO_NOTE"])
        let registry = PluginRegistry()
        let module = try registry.load(path: path)
        #expect(module.abiNote == nil)
        #expect(registry.device(named: "FixtureDevice") != nil)
    }

    @Test func loadAllSortsByNameAndReportsRefusals() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        // Created out of order; loaded sorted: libA (good), libB (duplicate of A's device), libC (not ELF).
        try TestFixtures.write(Array("hello\n".utf8), into: corpus.directory, as: "libC.so")
        let b = try corpus.build("libB.so", ["DRIVER_NAME=\"DriverB\""])
        let a = try corpus.build("libA.so")
        try TestFixtures.write(Array("ignored\n".utf8), into: corpus.directory, as: "notaplugin.txt")
        let registry = PluginRegistry()
        let report = registry.loadAll(searchPaths: [corpus.directory.path, "/nonexistent-vmhost-plugins"])
        #expect(report.loaded.map(\.path) == [a])
        #expect(report.refused.map(\.description) == [
            "\(b): device 'FixtureDevice' is already registered by \(a)",
            "\(corpus.directory.path)/libC.so: not an ELF file",
            "/nonexistent-vmhost-plugins: cannot list plugin directory: No such file or directory",
        ])
        #expect(registry.driver(named: "DriverB") == nil)
        #expect(registry.drivers.map(\.name) == ["FixtureDriver"])
    }

    // MARK: The broken-plugin corpus

    @Test func refusesBadMagic() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libBadMagic.so", ["DEV_VERSION=VMH_VERSION_MAKE(0xdead,1,0)"])
        expectRefusal(path, kind: .abiMismatch, reason: "device registration: device registration version "
            + "0xdead0100 has magic 0xdead, VMH_DEVREG_VERSION has magic 0xa010")
    }

    @Test func refusesOtherMajor() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libBadMajor.so", ["DEV_VERSION=VMH_VERSION_MAKE(0xa010,2,0)"])
        expectRefusal(path, kind: .abiMismatch, reason: "device registration: built for device registration 2.0 "
            + "(VMH_DEVREG_VERSION), this host implements 1.0")
    }

    @Test func refusesNewerMinorRegistration() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libNewerReg.so", ["DEV_VERSION=VMH_VERSION_MAKE(0xa010,1,3)"])
        expectRefusal(path, kind: .abiMismatch, reason: "device 'FixtureDevice': built for device registration 1.3 "
            + "(VMH_DEVREG_VERSION), this host implements 1.0")
        let helpers = try corpus.build("libNewerHlp.so", ["DEV_HLP_VERSION=VMH_VERSION_MAKE(0xa012,1,3)"])
        expectRefusal(helpers, kind: .abiMismatch, reason: "device 'FixtureDevice': built for device helpers 1.3 "
            + "(VMH_DEVHLP_VERSION), this host implements 1.2")
    }

    @Test func refusesNewerMinorNote() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let marker = corpus.directory.appendingPathComponent("newer-note-ran").path
        let path = try corpus.build("libNewerNote.so", ["NOTE_DEVHLP_VERSION=VMH_VERSION_MAKE(0xa012,1,3)",
                                                         "CTOR_MARKER=\"\(marker)\""])
        expectRefusal(path, kind: .abiMismatch,
                      reason: "built for device helpers 1.3 (VMH_DEVHLP_VERSION), this host implements 1.2")
        #expect(throws: PluginLoadError.self) { try PluginRegistry.inspect(path: path) }
        // Refused before dlopen: not even the module's constructor ran.
        #expect(!FileManager.default.fileExists(atPath: marker))
        // Control: the same marker mechanism does fire for a module that gets mapped.
        let goodMarker = corpus.directory.appendingPathComponent("good-ran").path
        let good = try corpus.build("libMarked.so", ["CTOR_MARKER=\"\(goodMarker)\""])
        let inspection = try PluginRegistry.inspect(path: good)
        #expect(inspection.moduleName == "Marked" && inspection.abiNote != nil)
        #expect(!FileManager.default.fileExists(atPath: goodMarker), "inspect must not map the module")
        try PluginRegistry().load(path: good)
        #expect(FileManager.default.fileExists(atPath: goodMarker))
    }

    @Test func descriptionIsOneLine() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libMultiLine.so", ["DEV_DESCRIPTION=\"first\\nsecond\\tthird\""])
        let registry = PluginRegistry()
        try registry.load(path: path)
        #expect(registry.device(named: "FixtureDevice")?.summary == "first second third")
    }

    @Test func refusesBadVersionEnd() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libBadEnd.so", ["DEV_VERSION_END=0"])
        expectRefusal(path, kind: .invalidRegistration, reason: "device 'FixtureDevice': versionEnd 0x0 differs "
            + "from version 0xa0100100 (struct not fully initialised)")
    }

    @Test func refusesMissingEntrySymbol() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libNoEntry.so", ["ENTRY_NAME=some_other_function"])
        expectRefusal(path, kind: .noEntryPoint, reason: "does not export vmhost_plugin_register")
    }

    @Test func refusesUnresolvedSymbolAtDlopen() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libUnresolved.so", ["UNDEFINED_CALL"])
        let registry = PluginRegistry()
        do {
            try registry.load(path: path)
            Issue.record("a module with an unresolved symbol loaded")
        } catch {
            #expect(error.kind == .dynamicLinker)
            #expect(error.description.hasPrefix("\(path): dlopen failed: "))
            #expect(error.reason.contains("undefined symbol: vmhost_missing_function"))
            #expect(!error.description.contains("\n"))
        }
        #expect(registry.modules.isEmpty && registry.devices.isEmpty)
    }

    @Test func forgedRegistrarIsRefusedHarmlessly() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libForged.so", ["FORGED_REGISTRAR"])
        let registry = PluginRegistry()
        // The plugin itself checks the refusals (returning -100/-101 otherwise), then registers through a copy.
        let module = try registry.load(path: path)
        #expect(module.deviceNames == ["FixtureDevice"] && module.driverNames == ["FixtureDriver"])
    }

    @Test func refusesNonELF() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try TestFixtures.write(Array("#!/bin/sh\necho not a plugin\n".utf8), into: corpus.directory,
                                          as: "libText.so").path
        expectRefusal(path, kind: .notELF, reason: "not an ELF file")
        let empty = try TestFixtures.write([], into: corpus.directory, as: "libEmpty.so").path
        expectRefusal(empty, kind: .notELF, reason: "not an ELF file")
        expectRefusal(corpus.directory.path + "/libMissing.so", kind: .unreadable, reason: "no such file")
    }

    @Test func refusesTruncatedPlugin() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let good = try corpus.build("libWhole.so")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))
        let path = try TestFixtures.write(Array(bytes.prefix(bytes.count * 3 / 4)), into: corpus.directory,
                                          as: "libTruncated.so").path
        let registry = PluginRegistry()
        #expect(throws: PluginLoadError.self) { try registry.load(path: path) }
        do {
            try registry.load(path: path)
        } catch {
            #expect(error.kind == .notELF)
            #expect(error.description.hasPrefix("\(path): truncated: "))
        }
        #expect(registry.modules.isEmpty)
    }

    @Test func refuses32BitELF() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try TestFixtures.write(TestFixtures.minimalELF32(), into: corpus.directory, as: "libElf32.so").path
        expectRefusal(path, kind: .wrongFormat, reason: "ELF32 file; plugins are ELF64 x86-64 shared objects")
        // A real 64-bit plugin with EI_CLASS patched to ELFCLASS32 is refused too, without a crash.
        var patched = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try corpus.build("libPatchMe.so"))))
        patched[4] = 1
        let patchedPath = try TestFixtures.write(patched, into: corpus.directory, as: "libPatched32.so").path
        let registry = PluginRegistry()
        #expect(throws: PluginLoadError.self) { try registry.load(path: patchedPath) }
        #expect(registry.modules.isEmpty)
    }

    @Test func refusesExecutable() throws {
        // /bin/true is a PIE (ET_DYN) on Debian; refused either for its type or for the missing entry point.
        if try ELFFileTypeOfTrue() == "ET_EXEC" {
            expectRefusal("/bin/true", kind: .wrongFormat,
                          reason: "ET_EXEC file, not a shared object (ET_DYN); plugins are ELF64 x86-64 shared objects")
        } else {
            expectRefusal("/bin/true", kind: .noEntryPoint, reason: "does not export vmhost_plugin_register")
        }
    }

    private func ELFFileTypeOfTrue() throws -> String {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/bin/true")).prefix(18))
        return bytes[16] == 2 ? "ET_EXEC" : "ET_DYN"
    }

    @Test func refusesDuplicateNameAcrossFiles() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let first = try corpus.build("libFirst.so")
        let second = try corpus.build("libSecond.so", ["DEVICE_NAME=\"OtherDevice\""])  // same driver name
        let registry = PluginRegistry()
        try registry.load(path: first)
        expectRefusal(second, kind: .duplicateName,
                      reason: "driver 'FixtureDriver' is already registered by \(first)", registry: registry)
        // OtherDevice had been accepted before the driver was refused: it must not stay.
        #expect(registry.device(named: "OtherDevice") == nil)
        #expect(registry.modules.map(\.path) == [first])
    }

    @Test func refusesNameRegisteredTwiceByOneModule() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libTwice.so", ["REGISTER_DEVICE_TWICE"])
        expectRefusal(path, kind: .duplicateName, reason: "device 'FixtureDevice' is registered twice by this module")
    }

    @Test func refusesNullConstruct() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libNullConstruct.so", ["DEV_CONSTRUCT=0"])
        expectRefusal(path, kind: .invalidRegistration, reason: "device 'FixtureDevice': construct is NULL")
    }

    @Test func refusesZeroMaxInstances() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libZeroMax.so", ["DEV_MAX_INSTANCES=0"])
        expectRefusal(path, kind: .invalidRegistration, reason: "device 'FixtureDevice': maxInstances is 0")
    }

    @Test func refusesInvalidNames() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        expectRefusal(try corpus.build("libSpace.so", ["DEVICE_NAME=\"Bad Name\""]), kind: .invalidRegistration,
                      reason: "device name 'Bad Name' is invalid (a letter, then letters, digits, '_' or '-')")
        expectRefusal(try corpus.build("libDigit.so", ["DEVICE_NAME=\"9lives\""]), kind: .invalidRegistration,
                      reason: "device name '9lives' is invalid (a letter, then letters, digits, '_' or '-')")
        expectRefusal(try corpus.build("libEmptyName.so", ["DEVICE_NAME=\"\""]), kind: .invalidRegistration,
                      reason: "device registration has an empty name")
        let long = String(repeating: "A", count: 32)
        expectRefusal(try corpus.build("libLong.so", ["DEVICE_NAME=\"\(long)\""]), kind: .invalidRegistration,
                      reason: "device name '\(long)' is not NUL-terminated within 32 bytes")
        expectRefusal(try corpus.build("libDrvName.so", ["DRIVER_NAME=\"drv/x\""]), kind: .invalidRegistration,
                      reason: "driver name 'drv/x' is invalid (a letter, then letters, digits, '_' or '-')")
    }

    @Test func refusesUnknownFlagsHugeInstancesAndReservedSlots() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        expectRefusal(try corpus.build("libFlags.so", ["DEV_FLAGS=0x10"]), kind: .invalidRegistration,
                      reason: "device 'FixtureDevice': unknown flag bits 0x10 (this host knows 0x107)")
        expectRefusal(try corpus.build("libHuge.so", ["DEV_INSTANCE_SIZE=0x800001"]), kind: .invalidRegistration,
                      reason: "device 'FixtureDevice': instanceSize 8388609 exceeds the limit of 8 MiB")
        expectRefusal(try corpus.build("libSlot.so", ["DEV_RESERVED_SLOT2=fixtureDeviceConstruct"]),
                      kind: .invalidRegistration, reason: "device 'FixtureDevice': reserved slot 2 is not NULL")
        expectRefusal(try corpus.build("libDrvRes.so", ["DRV_RESERVED0=5"]), kind: .invalidRegistration,
                      reason: "driver 'FixtureDriver': reserved0 is 5, must be 0")
        expectRefusal(try corpus.build("libDrvMajor.so", ["DRV_VERSION=VMH_VERSION_MAKE(0xa020,0,9)"]),
                      kind: .abiMismatch, reason: "driver registration: built for driver registration 0.9 "
                          + "(VMH_DRVREG_VERSION), this host implements 1.0")
        // 8 MiB exactly is allowed.
        let registry = PluginRegistry()
        try registry.load(path: try corpus.build("libMaxSize.so", ["DEV_INSTANCE_SIZE=0x800000"]))
        #expect(registry.device(named: "FixtureDevice")?.instanceSize == 8 << 20)
    }

    @Test func refusesGroupOrWorldWritable() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libWritable.so")
        try FileManager.default.setAttributes([.posixPermissions: 0o775], ofItemAtPath: path)
        expectRefusal(path, kind: .insecurePermissions,
                      reason: "file is writable by group (mode 0775); refusing to load it")
        try FileManager.default.setAttributes([.posixPermissions: 0o757], ofItemAtPath: path)
        expectRefusal(path, kind: .insecurePermissions,
                      reason: "file is writable by others (mode 0757); refusing to load it")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        let directory = corpus.directory.path
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory)
        expectRefusal(path, kind: .insecurePermissions, reason: "directory \(directory) is writable by group and "
            + "others (mode 0777); refusing to load from it")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory)
        let registry = PluginRegistry()
        try registry.load(path: path)
        #expect(registry.device(named: "FixtureDevice") != nil)
    }

    @Test func entryErrorDiscardsItsRegistrations() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libEntryFails.so", ["REGISTER_DRIVER=0", "ENTRY_RESULT=VMH_ERR_GENERAL"])
        expectRefusal(path, kind: .entryPointFailed, reason: "vmhost_plugin_register returned VMH_ERR_GENERAL (-1); "
            + "discarded the 1 device(s) and 0 driver(s) it registered")
    }

    @Test func refusalIgnoredByPluginStillRefusesModule() throws {
        // The device is refused; the plugin ignores that, registers its driver and returns VMH_OK.
        let corpus = try Corpus()
        defer { corpus.remove() }
        let path = try corpus.build("libIgnores.so", ["DEV_MAX_INSTANCES=0", "IGNORE_REFUSAL=1"])
        expectRefusal(path, kind: .invalidRegistration, reason: "device 'FixtureDevice': maxInstances is 0")
    }

    @Test func refusedModuleLeavesEarlierModulesIntact() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let good = try corpus.build("libGood.so")
        let bad = try corpus.build("libBad.so", ["DEVICE_NAME=\"Second\"", "DRIVER_NAME=\"SecondDriver\"",
                                                 "REGISTER_DRIVER=1", "ENTRY_RESULT=VMH_ERR_NO_MEMORY"])
        let registry = PluginRegistry()
        try registry.load(path: good)
        expectRefusal(bad, kind: .entryPointFailed, reason: "vmhost_plugin_register returned VMH_ERR_NO_MEMORY (-4); "
            + "discarded the 1 device(s) and 1 driver(s) it registered", registry: registry)
        #expect(registry.devices.map(\.name) == ["FixtureDevice"])
        #expect(registry.drivers.map(\.name) == ["FixtureDriver"])
        #expect(registry.device(named: "Second") == nil && registry.driver(named: "SecondDriver") == nil)
    }

    /// Modules loaded from several threads at once: each commit is all-or-nothing, exactly one of two modules
    /// claiming the same device name wins, and lookups meanwhile see only whole modules.
    @Test func concurrentLoadsCommitWholeModules() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        var built: [String] = []
        for index in 0..<4 {
            built.append(try corpus.build("libDistinct\(index).so",
                                          ["DEVICE_NAME=\"Dev\(index)\"", "DRIVER_NAME=\"Drv\(index)\""]))
        }
        for index in 0..<2 {
            built.append(try corpus.build("libClaim\(index).so",
                                          ["DEVICE_NAME=\"Shared\"", "DRIVER_NAME=\"ClaimDriver\(index)\""]))
        }
        let registry = PluginRegistry()
        let paths = built
        let outcomes = Mutex<[String: PluginLoadError]>([:])
        let torn = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: paths.count * 2) { index in
            if index < paths.count {
                do throws(PluginLoadError) {
                    try registry.load(path: paths[index])
                } catch {
                    outcomes.withLock { $0[paths[index]] = error }
                }
            } else {
                // A reader: whenever a module is visible, all of its types are.
                for _ in 0..<200 {
                    for module in registry.modules
                    where module.deviceNames.contains(where: { registry.device(named: $0) == nil })
                        || module.driverNames.contains(where: { registry.driver(named: $0) == nil }) {
                        torn.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        let refused = outcomes.withLock { $0 }
        #expect(refused.count == 1)
        let (loserPath, loserError) = try #require(refused.first)
        #expect(loserPath.contains("libClaim"))
        #expect(loserError.kind == .duplicateName)
        #expect(loserError.reason.hasPrefix("device 'Shared' is already registered by \(corpus.directory.path)/libClaim"))
        #expect(registry.modules.count == 5)
        #expect(registry.devices.count == 5 && registry.drivers.count == 5)
        let loserDriver = loserPath.contains("libClaim0") ? "ClaimDriver0" : "ClaimDriver1"
        #expect(registry.driver(named: loserDriver) == nil)
        #expect(torn.load(ordering: .relaxed) == 0)
    }

    // MARK: Static registration

    @Test func registersStaticEntry() throws {
        let registry = PluginRegistry()
        let module = try registry.registerStatic(moduleName: "StaticGood", entry: StaticEntries.good)
        #expect(module.path == nil && module.displayName == "StaticGood (static)")
        let device = try #require(registry.device(named: "StaticDevice"))
        #expect(device.module.name == "StaticGood")
        #expect(device.registration == UnsafePointer(StaticEntries.deviceReg))
        do {
            try registry.registerStatic(moduleName: "StaticAgain", entry: StaticEntries.good)
            Issue.record("duplicate static registration accepted")
        } catch {
            #expect(error.description
                == "StaticAgain (static): device 'StaticDevice' is already registered by StaticGood (static)")
        }
        do {
            try registry.registerStatic(moduleName: "StaticBad", entry: StaticEntries.badEnd)
            Issue.record("bad static registration accepted")
        } catch {
            #expect(error.description == "StaticBad (static): device 'StaticBadEnd': versionEnd 0x1 differs from "
                + "version 0xa0100100 (struct not fully initialised)")
        }
        #expect(registry.modules.map(\.name) == ["StaticGood"])
        #expect(registry.devices.count == 1)
    }

    // MARK: The real plugin products

    @Test func loadsPluginProducts() throws {
        let products = TestFixtures.pluginProducts()
        #expect(!products.isEmpty, "no lib*.so next to the test executable")
        let registry = PluginRegistry()
        let report = registry.loadAll(searchPaths: [TestFixtures.productsDirectory.path])
        #expect(report.loaded.count + report.refused.count == products.count)
        for refusal in report.refused {
            #expect(products.map(\.path).contains(refusal.path), "\(refusal)")
            #expect(refusal.description.hasPrefix(refusal.path + ": "))
        }
        // Every plugin product of this package is meant to load on the host built with it.
        #expect(report.refused.isEmpty, "\(report.refused.map(\.description))")
        for module in report.loaded {
            #expect(!(module.deviceNames.isEmpty && module.driverNames.isEmpty), "\(module) registers nothing")
            #expect(module.abiNote != nil, "\(module): SDK plugins carry the ABI note")
            for name in module.deviceNames { #expect(registry.device(named: name)?.module == module) }
            for name in module.driverNames { #expect(registry.driver(named: name)?.module == module) }
        }
        #expect(registry.modules == report.loaded)
    }

    @Test func loadNeededMapsOnlyWhatTheConfigurationNames() throws {
        let products = TestFixtures.pluginProducts()
        let registry = PluginRegistry()
        let report = registry.loadNeeded(devices: ["Serial16550", "DebugExit"], drivers: ["Stdio"],
                                         searchPaths: [TestFixtures.productsDirectory.path])
        #expect(report.loaded.map(\.name) == ["DebugExit", "Serial16550", "Stdio"])
        #expect(report.refused.isEmpty, "\(report.refused.map(\.description))")
        #expect(report.notLoaded.count == products.count - 3)
        #expect(!report.notLoaded.contains { $0.hasSuffix("/libSerial16550.so") })
        #expect(registry.device(named: "Serial16550") != nil && registry.driver(named: "Stdio") != nil)
        #expect(registry.device(named: "VirtioBlk") == nil, "an unused plugin must stay unloaded")

        // Asking again for what is there loads nothing more.
        let again = registry.loadNeeded(devices: ["Serial16550"], drivers: [],
                                        searchPaths: [TestFixtures.productsDirectory.path])
        #expect(again.loaded.isEmpty && again.refused.isEmpty)
    }

    @Test func loadNeededFindsANameRegisteredUnderAnotherFileName() throws {
        // `ProbeFirst` lives in libProbeDevice.so: no conventional file, so the others are tried in order until
        // it is registered, and the files after that one stay unloaded.
        let registry = PluginRegistry()
        let report = registry.loadNeeded(devices: ["ProbeFirst"], drivers: [],
                                         searchPaths: [TestFixtures.productsDirectory.path])
        #expect(registry.device(named: "ProbeFirst")?.module.name == "ProbeDevice")
        #expect(report.loaded.last?.name == "ProbeDevice")
        #expect(report.notLoaded.contains { $0.hasSuffix("/libVirtioBlk.so") })
    }

    @Test func loadNeededWithANameNobodyRegistersLoadsEveryFile() throws {
        let products = TestFixtures.pluginProducts()
        let registry = PluginRegistry()
        let report = registry.loadNeeded(devices: ["NoSuchDevice"], drivers: ["NoSuchDriver"],
                                         searchPaths: [TestFixtures.productsDirectory.path])
        #expect(report.loaded.count + report.refused.count == products.count)
        #expect(report.notLoaded.isEmpty)
        #expect(registry.device(named: "NoSuchDevice") == nil)
    }
}

/// In-process entry points for `registerStatic` (C function pointers cannot capture, so the structs are globals).
enum StaticEntries {
    nonisolated(unsafe) static let deviceReg: UnsafeMutablePointer<VMHDeviceReg> = makeDevice(name: "StaticDevice", versionEnd: nil)
    nonisolated(unsafe) static let badDeviceReg: UnsafeMutablePointer<VMHDeviceReg> = makeDevice(name: "StaticBadEnd", versionEnd: 1)

    static let good: VMHPluginEntry = { registrar, _ in
        guard let registrar, let register = registrar.pointee.registerDevice else { return VMH_ERR_INVALID_PARAMETER }
        return register(registrar, StaticEntries.deviceReg)
    }

    static let badEnd: VMHPluginEntry = { registrar, _ in
        guard let registrar, let register = registrar.pointee.registerDevice else { return VMH_ERR_INVALID_PARAMETER }
        return register(registrar, StaticEntries.badDeviceReg)
    }

    private static func makeDevice(name: String, versionEnd: UInt32?) -> UnsafeMutablePointer<VMHDeviceReg> {
        var reg = VMHDeviceReg()
        reg.version = ABITable.deviceRegistration.hostVersion.rawValue
        reg.hlpVersion = ABITable.deviceHelpers.hostVersion.rawValue
        withUnsafeMutableBytes(of: &reg.name) { raw in
            for (index, byte) in name.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
        }
        reg.maxInstances = 1
        reg.construct = { _ in VMH_OK }
        reg.versionEnd = versionEnd ?? reg.version
        let pointer = UnsafeMutablePointer<VMHDeviceReg>.allocate(capacity: 1)
        pointer.initialize(to: reg)
        return pointer
    }
}
