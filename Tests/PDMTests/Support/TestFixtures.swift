import Foundation
import TestSupport
import PDM

/// Paths and helpers shared by the loader and ELF tests: a private temporary directory per test, C fixtures
/// compiled at test time with the system C compiler, and the build products folder.
enum TestFixtures {
    /// `Tests/PDMTests/Fixtures` in the source tree.
    static let fixturesDirectory: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The folder holding `vmhost_plugin.h`.
    static let abiIncludeDirectory: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/CVMHostABI/include")

    /// The build products folder: where SwiftPM puts the test executable and the plugin `lib<Name>.so` files.
    static var productsDirectory: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent()
    }

    /// The plugin products (`lib*.so`) in the build products folder, sorted by name.
    static func pluginProducts() -> [URL] {
        // As the registry lists a folder: every lib*.so but the host's own YAML reader.
        ((try? PluginRegistry.pluginFileNames(in: productsDirectory.path)) ?? [])
            .map { productsDirectory.appendingPathComponent($0) }
    }

    /// A fresh directory (mode 0755) under the system temporary folder.
    static func makeTemporaryDirectory(_ label: String) throws -> URL {
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("vmhost-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        return base
    }

    struct CompileFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Compiles the fixture `Fixtures/<source>` into `<directory>/<output>` as a shared object with the system C
    /// compiler; `defines` become `-D` options. Mode 0755.
    @discardableResult
    static func compilePlugin(_ source: String, into directory: URL, as output: String,
                              defines: [String] = []) throws -> URL {
        try compile(source, into: directory, as: output,
                    options: ["-shared", "-fPIC", "-O1"] + defines.map { "-D\($0)" })
    }

    /// Compiles and links the fixture `Fixtures/<source>` into `<directory>/<output>` with the system C compiler
    /// and the given options (the ABI header folder is on the include path). Mode 0755.
    @discardableResult
    static func compile(_ source: String, into directory: URL, as output: String, options: [String]) throws -> URL {
        let target = directory.appendingPathComponent(output)
        let outcome = try ChildProcess.run(["cc", "-x", "c", "-Wall", "-Werror", "-I", abiIncludeDirectory.path]
            + options + ["-o", target.path, fixturesDirectory.appendingPathComponent(source).path], timeout: 120)
        guard outcome.succeeded else {
            throw CompileFailure(description: "cc \(source) failed: \(outcome)")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target.path)
        return target
    }

    /// Writes `bytes` to `<directory>/<name>` with mode 0755.
    @discardableResult
    static func write(_ bytes: [UInt8], into directory: URL, as name: String) throws -> URL {
        let target = directory.appendingPathComponent(name)
        try Data(bytes).write(to: target)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target.path)
        return target
    }

    /// A minimal, valid ELF32 little-endian header of an i386 shared object (no segments, no sections).
    static func minimalELF32() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 52)
        bytes[0...3] = [0x7f, 0x45, 0x4c, 0x46]
        bytes[4] = 1  // ELFCLASS32
        bytes[5] = 1  // ELFDATA2LSB
        bytes[6] = 1  // EV_CURRENT
        bytes[16] = 3  // e_type ET_DYN
        bytes[18] = 3  // e_machine EM_386
        bytes[20] = 1  // e_version
        bytes[40] = 52  // e_ehsize
        return bytes
    }
}
