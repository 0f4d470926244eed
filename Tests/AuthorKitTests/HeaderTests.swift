import Foundation
import Testing

/// The ABI header is self-contained and warning-free under the flags the authors' kit promises, and the frozen
/// ABI 1.0 copy is a layout-compatible ancestor of the current header.
@Suite struct HeaderTests {
    /// Compiles a translation unit that includes only the header, under `flags`.
    private func compileAlone(_ include: URL, flags: [String], language: String = "c") throws -> Workspace.Outcome {
        try Workspace.run(["cc", "-x", language] + flags + ["-fsyntax-only", "-I", include.path, "-"],
                          input: "#include \"vmhost_plugin.h\"\n")
    }

    @Test func currentHeaderCompilesAloneUnderStrictC11() throws {
        let outcome = try compileAlone(Workspace.currentHeaderDirectory, flags: Workspace.strictC)
        #expect(outcome.status == 0, "\(outcome)")
    }

    @Test func currentHeaderCompilesAloneUnderStrictC99AndCxx() throws {
        let c99 = try compileAlone(Workspace.currentHeaderDirectory,
                                   flags: ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
        #expect(c99.status == 0, "\(c99)")
        let cxx = try compileAlone(Workspace.currentHeaderDirectory,
                                   flags: ["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"],
                                   language: "c++")
        #expect(cxx.status == 0, "\(cxx)")
    }

    @Test func frozenHeadersCompileAloneUnderStrictC11() throws {
        for header in [Workspace.frozenHeaderDirectory, Workspace.frozenHeader11Directory] {
            let outcome = try compileAlone(header, flags: Workspace.strictC)
            #expect(outcome.status == 0, "\(header.lastPathComponent): \(outcome)")
        }
    }

    /// The strict flags really reject a warning (so the tests above can fail).
    @Test func strictFlagsTurnWarningsIntoErrors() throws {
        let outcome = try Workspace.run(["cc", "-x", "c"] + Workspace.strictC + ["-fsyntax-only", "-"],
                                        input: "int f(void) { int unused; return 0; }\n")
        #expect(outcome.status != 0)
    }

    /// Prints the versions, sizes and member offsets of every versioned struct, compiled against one header, with
    /// each of `probes` (Fixtures/*.c).
    private func layout(_ include: URL, probes: [String] = ["abi_layout.c"]) throws -> [String: String] {
        let dir = try Workspace.temporaryDirectory("layout")
        defer { try? FileManager.default.removeItem(at: dir) }
        var values: [String: String] = [:]
        for probe in probes {
            let exe = try Workspace.compileC([Workspace.fixtures.appendingPathComponent(probe)],
                                             includeDirectory: include, into: dir, as: "probe", shared: false)
            let outcome = try Workspace.run([exe.path])
            try #require(outcome.status == 0, "\(outcome)")
            for line in outcome.output.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
            }
        }
        return values
    }

    /// Everything ABI 1.0 defined keeps its size and offset in the current header (minors only take reserved
    /// slots), and every version in the current header is the frozen one or a later minor of the same major.
    @Test func currentHeaderIsLayoutCompatibleWithFrozenABI10() throws {
        let old = try layout(Workspace.frozenHeaderDirectory)
        let new = try layout(Workspace.currentHeaderDirectory)
        #expect(old.count > 100, "layout probe printed too little: \(old.count) lines")
        for (key, value) in old where !key.hasPrefix("version.") {
            #expect(new[key] == value, "\(key): ABI 1.0 had \(value), the current header has \(new[key] ?? "nothing")")
        }
        for (key, value) in old where key.hasPrefix("version.") {
            let oldVersion = try #require(UInt32(value, radix: 16))
            let newVersion = try #require(new[key].flatMap { UInt32($0, radix: 16) })
            #expect(oldVersion >> 8 == newVersion >> 8, "\(key): magic or major changed")
            #expect(newVersion >= oldVersion, "\(key): the current header is older than the frozen 1.0")
        }
    }

    /// Everything device helpers 1.1 added keeps its offset (and its constants their values) in the current
    /// header, as does everything 1.0 had (checked through the 1.1 copy too).
    @Test func currentHeaderIsLayoutCompatibleWithFrozenDeviceHelpers11() throws {
        let probes = ["abi_layout.c", "abi_layout_1_1.c"]
        let old = try layout(Workspace.frozenHeader11Directory, probes: probes)
        let new = try layout(Workspace.currentHeaderDirectory, probes: probes)
        #expect(old["offsetof.VMHDevHlp.kernelCmdlineAppend"] != nil, "the 1.1 probe printed nothing")
        for (key, value) in old where !key.hasPrefix("version.") {
            #expect(new[key] == value, "\(key): device helpers 1.1 had \(value), the current header has \(new[key] ?? "nothing")")
        }
        for (key, value) in old where key.hasPrefix("version.") {
            let oldVersion = try #require(UInt32(value, radix: 16))
            let newVersion = try #require(new[key].flatMap { UInt32($0, radix: 16) })
            #expect(oldVersion >> 8 == newVersion >> 8, "\(key): magic or major changed")
            #expect(newVersion >= oldVersion, "\(key): the current header is older than the frozen 1.1")
        }
        #expect(old["version.VMH_DEVHLP_VERSION"] == "a0120101")
    }
}
