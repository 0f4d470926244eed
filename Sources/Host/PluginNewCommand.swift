import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// `vmhost plugin new --device|--driver NAME [--c] [--output DIR]`: writes a plugin skeleton that builds and
/// passes its own test out of the box — a Swift package (plugin library product + a test target on the plugin
/// test kit) or, with `--c`, one C file, a Makefile and a C test driver.
struct PluginNewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Create a ready-to-build plugin skeleton (Swift package, or C with --c).",
        discussion: """
            Swift: `swift build` builds lib<NAME>.so, `swift test` runs its tests on the plugin test kit. \
            C: `make` builds lib<NAME>.so with -std=c11 -Wall -Wextra -Wpedantic -Werror, `make test` runs its C \
            test driver. Then: vmhost run --plugin-path <build folder> …
            """)

    @Option(name: .customLong("device"), help: "Create a device plugin with this name ([A-Za-z][A-Za-z0-9_-]*).")
    var deviceName: String?

    @Option(name: .customLong("driver"), help: "Create a driver plugin with this name.")
    var driverName: String?

    @Flag(name: .customLong("c"), help: "A C plugin (one .c file, Makefile, C test driver) instead of Swift.")
    var c = false

    @Option(name: .customLong("output"), help: "Folder to create (default: ./<NAME>). Must not exist or be empty.")
    var output: String?

    @Option(name: .customLong("vmhost"),
            help: "Where the skeleton finds VMHost: a source folder (Swift path dependency, C header folder) or, for Swift, a git URL. Default: the source tree this vmhost was built from.")
    var vmhost: String?

    func validate() throws {
        guard (deviceName == nil) != (driverName == nil) else {
            throw ValidationError("give exactly one of --device NAME or --driver NAME")
        }
        let name = deviceName ?? driverName ?? ""
        if let problem = PluginSkeleton.nameProblem(name) { throw ValidationError(problem) }
    }

    func run() throws {
        let name = deviceName ?? driverName ?? ""
        let kind: PluginSkeleton.Kind = deviceName != nil ? .device : .driver
        let directory = output ?? name
        let source = vmhost ?? PluginSkeleton.defaultVMHostSource
        let skeleton = PluginSkeleton(name: name, kind: kind, language: c ? .c : .swift, vmhost: source)
        do {
            try skeleton.write(to: directory)
        } catch {
            throw ValidationError("\(directory): \(error)")
        }
        print("created \(skeleton.language == .c ? "C" : "Swift") \(kind.rawValue) plugin \(name) in \(directory)/:")
        for file in skeleton.files() { print("  \(file.path)") }
        print(skeleton.nextSteps(directory: directory), terminator: "")
    }
}

/// The files of a new plugin and how to write them.
struct PluginSkeleton {
    enum Kind: String { case device, driver }
    enum Language { case swift, c }

    let name: String
    let kind: Kind
    let language: Language
    /// A VMHost source folder, or (Swift only) a git URL.
    let vmhost: String

    /// One file of the skeleton.
    struct File {
        let path: String
        let contents: String
    }

    /// Why `name` cannot name a plugin type, or nil: `[A-Za-z][A-Za-z0-9_-]*`, at most 31 bytes — and, since it
    /// also names the Swift type and module, no `-` for Swift.
    static func nameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        func isLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) }
        func isNameByte(_ b: UInt8) -> Bool { isLetter(b) || (b >= 0x30 && b <= 0x39) || b == 0x5f }
        guard let first = bytes.first, isLetter(first), bytes.allSatisfy(isNameByte), bytes.count <= 31 else {
            return "plugin name '\(name)' is invalid: a letter, then letters, digits or '_', at most 31 bytes"
        }
        return nil
    }

    /// The VMHost source tree this executable was built from (this file's folder, three levels up), when it is
    /// still there; else a placeholder URL the author must edit.
    static var defaultVMHostSource: String {
        let here = #filePath
        var parts = here.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count > 3 {
            parts.removeLast(3)  // Sources/Host/PluginNewCommand.swift
            let root = parts.joined(separator: "/")
            if access(root + "/Sources/CVMHostABI/include/vmhost_plugin.h", R_OK) == 0 { return root }
        }
        return "https://github.com/EDIT-ME/VMHost.git"
    }

    /// True when `vmhost` is a URL rather than a folder.
    var vmhostIsURL: Bool { vmhost.contains("://") || vmhost.hasPrefix("git@") }

    /// The skeleton's files, paths relative to its folder.
    func files() -> [File] {
        let t = PluginTemplates(name: name, vmhost: vmhost, vmhostIsURL: vmhostIsURL)
        switch (language, kind) {
        case (.swift, .device):
            return [File(path: "Package.swift", contents: t.swiftPackage),
                    File(path: "Sources/\(name)/\(name).swift", contents: t.swiftDevice),
                    File(path: "Tests/\(name)Tests/\(name)Tests.swift", contents: t.swiftDeviceTests),
                    File(path: ".gitignore", contents: t.gitignore),
                    File(path: "README.md", contents: t.readme(c: false, device: true))]
        case (.swift, .driver):
            return [File(path: "Package.swift", contents: t.swiftPackage),
                    File(path: "Sources/\(name)/\(name).swift", contents: t.swiftDriver),
                    File(path: "Tests/\(name)Tests/\(name)Tests.swift", contents: t.swiftDriverTests),
                    File(path: ".gitignore", contents: t.gitignore),
                    File(path: "README.md", contents: t.readme(c: false, device: false))]
        case (.c, .device):
            return [File(path: "\(t.lower).c", contents: t.cDevice),
                    File(path: "test_\(t.lower).c", contents: t.cDeviceTest),
                    File(path: "Makefile", contents: t.makefile),
                    File(path: ".gitignore", contents: t.cGitignore),
                    File(path: "README.md", contents: t.readme(c: true, device: true))]
        case (.c, .driver):
            return [File(path: "\(t.lower).c", contents: t.cDriver),
                    File(path: "test_\(t.lower).c", contents: t.cDriverTest),
                    File(path: "Makefile", contents: t.makefile),
                    File(path: ".gitignore", contents: t.cGitignore),
                    File(path: "README.md", contents: t.readme(c: true, device: false))]
        }
    }

    /// What to run next.
    func nextSteps(directory: String) -> String {
        switch language {
        case .swift:
            return """
                next:
                  cd \(directory) && swift build && swift test
                  vmhost plugin check "$(swift build --show-bin-path)/lib\(name).so"
                  vmhost run --plugin-path "$(swift build --show-bin-path)" …

                """
        case .c:
            return """
                next:
                  cd \(directory) && make test
                  vmhost plugin check ./lib\(name).so
                  vmhost run --plugin-path \(directory) …

                """
        }
    }

    /// A failure to write the skeleton.
    struct WriteError: Error, CustomStringConvertible {
        let description: String
    }

    /// Creates `directory` (which must not exist, or be empty) and writes every file.
    func write(to directory: String) throws(WriteError) {
        if let dir = opendir(directory) {
            var entries = 0
            while let entry = readdir(dir) {
                let n = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if n != "." && n != ".." { entries += 1 }
            }
            closedir(dir)
            guard entries == 0 else { throw WriteError(description: "folder exists and is not empty") }
        }
        for file in files() {
            let path = directory + "/" + file.path
            try makeParents(of: path)
            guard let handle = fopen(path, "wx") else {
                throw WriteError(description: "cannot create \(file.path): \(String(cString: strerror(errno)))")
            }
            let bytes = Array(file.contents.utf8)
            let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
            fclose(handle)
            guard written == bytes.count else { throw WriteError(description: "short write to \(file.path)") }
        }
    }

    private func makeParents(of path: String) throws(WriteError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        let parts = path.split(separator: "/").dropLast()
        for part in parts {
            prefix += "/" + part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw WriteError(description: "cannot create folder \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }
}
