import Foundation
import TestSupport

/// Paths, a C compiler and a process runner for the authors' kit tests.
enum Workspace {
    /// The repository root (this file is Tests/AuthorKitTests/Support/Workspace.swift).
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The folder of the current `vmhost_plugin.h`.
    static let currentHeaderDirectory = root.appendingPathComponent("Sources/CVMHostABI/include")

    /// The frozen copy of the header as ABI 1.0 shipped it (all eight tables at 1.0).
    static let frozenHeaderDirectory = root.appendingPathComponent("Tests/AuthorKitTests/Fixtures/abi-1.0")

    /// The frozen copy of the header as device helpers 1.1 shipped it (the other tables at 1.0).
    static let frozenHeader11Directory = root.appendingPathComponent("Tests/AuthorKitTests/Fixtures/abi-1.1")

    /// `Tests/AuthorKitTests/Fixtures`.
    static let fixtures = root.appendingPathComponent("Tests/AuthorKitTests/Fixtures")

    /// `Examples/CPlugin`.
    static let cExample = root.appendingPathComponent("Examples/CPlugin")

    /// The build products folder (where SwiftPM puts the test runner, `vmhost` and the plugin `.so` files).
    static var productsDirectory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// The `vmhost` executable beside the test runner.
    static var vmhost: URL { productsDirectory.appendingPathComponent("vmhost") }

    /// The flags the authors' kit promises the header compiles under.
    static let strictC = ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]

    /// A fresh folder (mode 0755) under the system temporary folder.
    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("vmhost-authors-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        return url
    }

    /// What a finished process did.
    struct Outcome: CustomStringConvertible {
        let status: Int32
        let output: String
        let errors: String
        var description: String { "exit \(status)\nstdout:\n\(output)\nstderr:\n\(errors)" }
    }

    /// Runs `arguments` (the first is looked up on PATH) in `directory`, with `input` on standard input; killed
    /// after `timeout` seconds.
    static func run(_ arguments: [String], in directory: URL? = nil, input: String? = nil,
                    timeout: Double = 600) throws -> Outcome {
        let outcome = try ChildProcess.run(arguments, in: directory?.path, input: input, timeout: timeout)
        return Outcome(status: outcome.timedOut ? -1 : outcome.status, output: outcome.output,
                       errors: outcome.errors + (outcome.timedOut ? "\n(killed after \(Int(timeout)) s)" : ""))
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Compiles C `sources` with the strict flags and `-I includeDirectory` into `directory/output`; `shared`
    /// makes a plugin-style shared object. Throws with the compiler's messages on failure. Mode 0755.
    @discardableResult
    static func compileC(_ sources: [URL], includeDirectory: URL, into directory: URL, as output: String,
                         shared: Bool = true, extra: [String] = []) throws -> URL {
        let target = directory.appendingPathComponent(output)
        let arguments = ["cc"] + strictC + ["-O1", "-I", includeDirectory.path]
            + (shared ? ["-shared", "-fPIC", "-fvisibility=hidden"] : []) + extra
            + ["-o", target.path] + sources.map(\.path) + (shared ? [] : ["-ldl"])
        let outcome = try run(arguments)
        guard outcome.status == 0 else {
            throw Failure(description: "\(arguments.joined(separator: " ")) failed:\n\(outcome.errors)")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target.path)
        return target
    }

    /// A copy of the current header in `directory/include` with `table`'s version changed to `major.minor`
    /// (e.g. a "newer minor" header a plugin could have been built against). Returns the include folder.
    static func headerWithVersion(macro: String, magic: String, major: Int, minor: Int, in directory: URL) throws -> URL {
        let include = directory.appendingPathComponent("include-\(macro)-\(major).\(minor)")
        try FileManager.default.createDirectory(at: include, withIntermediateDirectories: true)
        var text = try String(contentsOf: currentHeaderDirectory.appendingPathComponent("vmhost_plugin.h"),
                              encoding: .utf8)
        let pattern = try NSRegularExpression(
            pattern: "#define \(macro)( +)VMH_VERSION_MAKE\\(\(magic), [0-9]+, [0-9]+\\)")
        let range = NSRange(text.startIndex..., in: text)
        guard pattern.numberOfMatches(in: text, range: range) == 1 else {
            throw Failure(description: "\(macro) not found once in vmhost_plugin.h")
        }
        text = pattern.stringByReplacingMatches(in: text, range: range,
                                                withTemplate: "#define \(macro)$1VMH_VERSION_MAKE(\(magic), \(major), \(minor))")
        try text.write(to: include.appendingPathComponent("vmhost_plugin.h"), atomically: true, encoding: .utf8)
        return include
    }

    /// Writes `bytes` to `directory/name`, mode 0755.
    @discardableResult
    static func write(_ bytes: [UInt8], into directory: URL, as name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url
    }

    /// A minimal, valid ELF32 little-endian i386 shared-object header (no segments, no sections).
    static func minimalELF32() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 52)
        bytes[0...3] = [0x7f, 0x45, 0x4c, 0x46]
        bytes[4] = 1  // ELFCLASS32
        bytes[5] = 1  // ELFDATA2LSB
        bytes[6] = 1  // EV_CURRENT
        bytes[16] = 3  // ET_DYN
        bytes[18] = 3  // EM_386
        bytes[20] = 1  // e_version
        bytes[40] = 52  // e_ehsize
        return bytes
    }
}
