import Foundation
import PluginTestKit
import Testing

/// `vmhost plugin new`, run as a process. The C skeletons are built and tested here (cc is quick); the Swift
/// skeletons are built and tested by scripts/test-examples (a Swift package build per skeleton is too slow for a
/// unit test), here only their files and names are checked.
@Suite(.serialized)
struct PluginNewTests {
    private func new(_ arguments: [String]) throws -> Workspace.Outcome {
        let vmhost = Workspace.vmhost
        try #require(FileManager.default.isExecutableFile(atPath: vmhost.path),
                     "\(vmhost.path) is missing: build it first (swift build)")
        return try Workspace.run([vmhost.path, "plugin", "new"] + arguments
                                 + ["--vmhost", Workspace.root.path])
    }

    private func files(under dir: URL) -> [String] {
        let all = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String } ?? []
        return all.filter { !$0.hasSuffix("/") && !isDirectory(dir.appendingPathComponent($0)) }.sorted()
    }

    private func isDirectory(_ url: URL) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &flag) && flag.boolValue
    }

    @Test(arguments: ["device", "driver"])
    func cSkeletonBuildsPassesItsTestAndLoads(kind: String) throws {
        let dir = try Workspace.temporaryDirectory("new-c-\(kind)").appendingPathComponent("skeleton")
        let name = "Fresh" + kind.capitalized
        let outcome = try new(["--\(kind)", name, "--c", "--output", dir.path])
        #expect(outcome.status == 0, "\(outcome)")
        let lower = name.lowercased()
        #expect(files(under: dir) == [".gitignore", "Makefile", "README.md", "\(lower).c", "test_\(lower).c"])
        let make = try Workspace.run(["make", "--no-print-directory", "test"], in: dir)
        #expect(make.status == 0, "\(make)")
        #expect(make.output.contains("test_\(lower): ") && make.output.contains(" passed, 0 failed"), "\(make)")
        // The .so the skeleton built is what the real registry accepts.
        let h = PluginTestHarness()
        let module = try h.loadPlugin(path: dir.appendingPathComponent("lib\(name).so").path)
        #expect(kind == "device" ? module.deviceNames == [name] : module.driverNames == [name])
    }

    @Test(arguments: ["device", "driver"])
    func swiftSkeletonHasAPackageASourceAndATest(kind: String) throws {
        let dir = try Workspace.temporaryDirectory("new-swift-\(kind)").appendingPathComponent("skeleton")
        let name = "Swift" + kind.capitalized
        let outcome = try new(["--\(kind)", name, "--output", dir.path])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(files(under: dir) == [".gitignore", "Package.swift", "README.md", "Sources/\(name)/\(name).swift",
                                      "Tests/\(name)Tests/\(name)Tests.swift"])
        let package = try String(contentsOf: dir.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(package.contains(".package(name: \"VMHost\", path: \"\(Workspace.root.path)\")"))
        #expect(package.contains(".library(name: \"\(name)\", type: .dynamic"))
        #expect(package.contains("\"VMHostPluginTestKit\""))
        let source = try String(contentsOf: dir.appendingPathComponent("Sources/\(name)/\(name).swift"),
                                encoding: .utf8)
        #expect(source.contains("@_cdecl(\"vmhost_plugin_register\")"))
        #expect(source.contains(kind == "device" ? "DevicePlugin" : "DriverPlugin"))
    }

    /// Without --vmhost the skeleton uses the source tree `vmhost` was built from.
    @Test func defaultsToTheSourceTreeVMHostWasBuiltFrom() throws {
        let dir = try Workspace.temporaryDirectory("new-default").appendingPathComponent("skeleton")
        let outcome = try Workspace.run([Workspace.vmhost.path, "plugin", "new", "--device", "Plain", "--c",
                                         "--output", dir.path])
        #expect(outcome.status == 0, "\(outcome)")
        let makefile = try String(contentsOf: dir.appendingPathComponent("Makefile"), encoding: .utf8)
        #expect(makefile.contains("VMHOST_INCLUDE ?= \(Workspace.currentHeaderDirectory.path)\n"), "\(makefile)")
    }

    @Test func refusesAnInvalidName() throws {
        let dir = try Workspace.temporaryDirectory("new-bad")
        let outcome = try new(["--device", "9lives", "--output", dir.appendingPathComponent("x").path])
        #expect(outcome.status != 0)
        #expect(outcome.errors.contains("plugin name '9lives' is invalid"), "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x").path))
    }

    @Test func refusesBothOrNeitherKind() throws {
        let both = try new(["--device", "A", "--driver", "B"])
        #expect(both.status != 0)
        #expect(both.errors.contains("exactly one of --device NAME or --driver NAME"), "\(both)")
    }

    @Test func refusesANonEmptyOutputFolder() throws {
        let dir = try Workspace.temporaryDirectory("new-busy")
        try "keep".write(to: dir.appendingPathComponent("mine.txt"), atomically: true, encoding: .utf8)
        let outcome = try new(["--device", "Busy", "--c", "--output", dir.path])
        #expect(outcome.status != 0)
        #expect(outcome.errors.contains("folder exists and is not empty"), "\(outcome)")
        #expect(files(under: dir) == ["mine.txt"])
    }
}
