import CVMHostABI
import Foundation
import PDM
import PluginTestKit
import Testing
import TestSupport

/// The built plugin products themselves: every `lib<Name>.so` exports the entry point and carries a compatible
/// `.note.vmhost` ABI note; the C Scratchpad builds warning-free as plain C11 with only the ABI header and the
/// result loads and runs.
@Suite(.serialized)
struct PluginProductTests {
    static let products = ["DebugExit", "Serial16550", "Scratchpad", "ProbeDevice", "VirtioBlk", "Stdio",
                           "AsyncDelay", "ProbeDriver", "Block", "RawFile", "Char", "File", "UnixSocket"]

    /// The repository root, from this file's path (`<root>/Tests/PluginTests/PluginProductTests.swift`).
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(arguments: products)
    func exportsTheEntryPointAndCarriesTheABINote(product: String) throws {
        let path = "\(PluginTestHarness.productsDirectory)/lib\(product).so"
        let inspection = try PluginRegistry.inspect(path: path)
        let note = try #require(inspection.abiNote, "lib\(product).so has no .note.vmhost")
        #expect(note.firstIncompatibility() == nil)
        let handle = try #require(dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE))
        #expect(dlsym(handle, VMH_PLUGIN_ENTRY_NAME) != nil)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/cc")))
    func scratchpadIsWarningFreePlainC() throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("vmhost-scratchpad-cc-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let library = folder.appendingPathComponent("libScratchpadCC.so").path
        let outcome = try ChildProcess.run(
            ["/usr/bin/cc", "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-shared", "-fPIC",
             "-I", Self.root.appendingPathComponent("Sources/CVMHostABI/include").path, "-o", library,
             Self.root.appendingPathComponent("Plugins/Devices/Scratchpad/scratchpad.c").path], timeout: 120)
        let diagnostics = outcome.errors + outcome.output
        #expect(outcome.succeeded, "cc: \(outcome)")
        #expect(diagnostics.isEmpty)

        // The cc-built module works with the host like the SwiftPM-built one.
        let h = PluginTestHarness()
        try h.loadPlugin(path: library)
        h.addDevice(DeviceConfig(name: "Scratchpad"))
        try h.construct()
        h.portOut(0x510, size: 4, value: 0xcafe_f00d)
        #expect(h.portIn(0x510, size: 4).value == 0xcafe_f00d)
        #expect(h.portIn(0x514, size: 4).value == 1)
    }
}
