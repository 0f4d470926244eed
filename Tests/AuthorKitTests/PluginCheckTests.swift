import Foundation
import PluginTestKit
import Testing

/// `vmhost plugin check FILE`, run as a process: the report and the verdict (exit status 0 accepted, 1 refused).
@Suite(.serialized)
struct PluginCheckTests {
    private func check(_ file: URL, _ extra: [String] = []) throws -> Workspace.Outcome {
        let vmhost = Workspace.vmhost
        try #require(FileManager.default.isExecutableFile(atPath: vmhost.path),
                     "\(vmhost.path) is missing: build it first (swift build)")
        return try Workspace.run([vmhost.path, "plugin", "check"] + extra + [file.path])
    }

    /// The value of a `label:  value` line of the report.
    private func field(_ label: String, in output: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix(label + ":") }
            .map { $0.dropFirst(label.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    private func tally(header: URL = Workspace.currentHeaderDirectory, label: String) throws -> URL {
        try Workspace.compileC([Workspace.cExample.appendingPathComponent("tally.c")], includeDirectory: header,
                               into: try Workspace.temporaryDirectory(label), as: "libTally.so")
    }

    @Test func acceptsAGoodPluginAndListsWhatItRegisters() throws {
        let outcome = try check(try tally(label: "check-good"))
        #expect(outcome.status == 0, "\(outcome)")
        let out = outcome.output
        #expect(field("format", in: out) == "ELF64 little-endian, x86-64, ET_DYN", "\(out)")
        #expect(field("entry symbol", in: out)?.hasPrefix("vmhost_plugin_register (STB_GLOBAL STT_FUNC") == true, "\(out)")
        #expect(field("module", in: out) == "Tally", "\(out)")
        #expect(field("registers", in: out) == "1 device(s), 0 driver(s)", "\(out)")
        #expect(out.contains("  device  Tally"), "\(out)")
        #expect(out.contains("10000 (MISC)"), "\(out)")
        let host = ABITable.deviceHelpers.hostVersion.majorMinor
        let row = out.split(separator: "\n").first { $0.hasPrefix("  device helpers ") }
        // Tally is compiled against the current header, so it was built for exactly the host's minor.
        #expect(row?.split(separator: " ").map(String.init)
                == ["device", "helpers", host, host, "VMH_DEVHLP_VERSION", "ok"], "\(out)")
        #expect(field("verdict", in: out) == "ACCEPTED: this host would load Tally", "\(out)")
    }

    @Test func acceptsARealPluginProductWithFlags() throws {
        let outcome = try check(Workspace.productsDirectory.appendingPathComponent("libScratchpad.so"))
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.output.contains("0x100 (THREAD_SAFE)"), "\(outcome)")
    }

    @Test func listsTheDriversOfADriverProduct() throws {
        let outcome = try check(Workspace.productsDirectory.appendingPathComponent("libStdio.so"))
        #expect(outcome.status == 0, "\(outcome)")
        #expect(field("registers", in: outcome.output) == "0 device(s), 1 driver(s)", "\(outcome)")
        #expect(outcome.output.contains("  driver  Stdio"), "\(outcome)")
    }

    /// `--no-load` runs none of the file's code (not even its ELF constructors); a full check does.
    @Test func noLoadRunsNoCodeOfThePlugin() throws {
        let dir = try Workspace.temporaryDirectory("check-ctor")
        let marker = dir.appendingPathComponent("constructor-ran")
        var text = try String(contentsOf: Workspace.cExample.appendingPathComponent("tally.c"), encoding: .utf8)
        text = "#define _POSIX_C_SOURCE 200809L\n#include <stdio.h>\n"
            + "__attribute__((constructor)) static void mark(void) { FILE *f = fopen(\"\(marker.path)\", \"w\"); if (f) fclose(f); }\n"
            + text
        let source = dir.appendingPathComponent("tally_ctor.c")
        try text.write(to: source, atomically: true, encoding: .utf8)
        let so = try Workspace.compileC([source], includeDirectory: Workspace.currentHeaderDirectory, into: dir,
                                        as: "libTally.so")
        let inspected = try check(so, ["--no-load"])
        #expect(inspected.status == 0, "\(inspected)")
        #expect(!FileManager.default.fileExists(atPath: marker.path), "--no-load ran the plugin's constructor")
        let loaded = try check(so)
        #expect(loaded.status == 0, "\(loaded)")
        #expect(FileManager.default.fileExists(atPath: marker.path), "a full check must load the plugin")
    }

    @Test func refusesAPluginBuiltForANewerMinor() throws {
        let host = ABITable.deviceHelpers.hostVersion
        let dir = try Workspace.temporaryDirectory("check-newer")
        let header = try Workspace.headerWithVersion(macro: "VMH_DEVHLP_VERSION", magic: "0xa012",
                                                     major: Int(host.major), minor: Int(host.minor) + 1, in: dir)
        let outcome = try check(try tally(header: header, label: "check-newer-so"))
        #expect(outcome.status == 1, "\(outcome)")
        let newer = "\(host.major).\(host.minor + 1)"
        let row = outcome.output.split(separator: "\n").first { $0.hasPrefix("  device helpers ") }
        #expect(row?.split(separator: " ").map(String.init)
                == ["device", "helpers", newer, host.majorMinor, "VMH_DEVHLP_VERSION", "REFUSED", "(newer", "minor)"],
                "\(outcome)")
        #expect(field("verdict", in: outcome.output)
                == "REFUSED: built for device helpers \(newer) (VMH_DEVHLP_VERSION), this host implements \(host.majorMinor)",
                "\(outcome)")
        #expect(field("registers", in: outcome.output) == nil, "a refused file must not be loaded")
    }

    @Test func refusesA32BitELF() throws {
        let file = try Workspace.write(Workspace.minimalELF32(), into: try Workspace.temporaryDirectory("check-32"),
                                       as: "libThirtyTwo.so")
        let outcome = try check(file)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(field("format", in: outcome.output)?.hasPrefix("ELF32 little-endian") == true, "\(outcome)")
        #expect(field("verdict", in: outcome.output)
                == "REFUSED: ELF32 file; plugins are ELF64 x86-64 shared objects", "\(outcome)")
    }

    @Test func refusesAFileWithoutTheEntrySymbol() throws {
        let dir = try Workspace.temporaryDirectory("check-noentry")
        let source = dir.appendingPathComponent("noentry.c")
        try "int vmhost_plugin_regist(void) { return 0; }\n".write(to: source, atomically: true, encoding: .utf8)
        let so = try Workspace.compileC([source], includeDirectory: Workspace.currentHeaderDirectory, into: dir,
                                        as: "libNoEntry.so", extra: ["-fvisibility=default"])
        let outcome = try check(so)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(field("entry symbol", in: outcome.output) == "missing: vmhost_plugin_register is not in .dynsym",
                "\(outcome)")
        #expect(field("verdict", in: outcome.output) == "REFUSED: does not export vmhost_plugin_register", "\(outcome)")
    }

    @Test func refusesAFileThatIsNotELF() throws {
        let file = try Workspace.write(Array("#!/bin/sh\necho hi\n".utf8),
                                       into: try Workspace.temporaryDirectory("check-text"), as: "libText.so")
        let outcome = try check(file)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(field("verdict", in: outcome.output)?.hasPrefix("REFUSED: ") == true, "\(outcome)")
    }

    /// A registration the host refuses (found only by loading): the verdict carries the loader's reason.
    @Test func refusesARegistrationTheLoaderRefuses() throws {
        let dir = try Workspace.temporaryDirectory("check-zero")
        var text = try String(contentsOf: Workspace.cExample.appendingPathComponent("tally.c"), encoding: .utf8)
        try #require(text.contains(".maxInstances = 4,"))
        text = text.replacingOccurrences(of: ".maxInstances = 4,", with: ".maxInstances = 0,")
        let source = dir.appendingPathComponent("tally0.c")
        try text.write(to: source, atomically: true, encoding: .utf8)
        let zero = try Workspace.compileC([source], includeDirectory: Workspace.currentHeaderDirectory, into: dir,
                                          as: "libTallyZero.so")
        let loaded = try check(zero)
        #expect(loaded.status == 1, "\(loaded)")
        #expect(field("verdict", in: loaded.output)?.contains("maxInstances") == true, "\(loaded)")
        // With --no-load the pre-load checks pass: the file looks fine until its entry point runs.
        let inspected = try check(zero, ["--no-load"])
        #expect(inspected.status == 0, "\(inspected)")
        #expect(field("registers", in: inspected.output) == "not loaded (--no-load)", "\(inspected)")
    }
}
