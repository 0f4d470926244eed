import Foundation
import Synchronization

/// Builds the PVH test guests from `Tests/Guests` (once per test process) with `make`, into
/// `.build/test-guests` of the repository, and hands out their paths.
enum TestGuests {
    /// The repository root, from this file's path (`<root>/Tests/VMMTests/TestGuests.swift`).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let outputDirectory = repositoryRoot.appendingPathComponent(".build/test-guests")

    private static let built = Mutex<Result<Void, GuestBuildError>?>(nil)

    struct GuestBuildError: Error, CustomStringConvertible {
        let description: String
    }

    /// Path of guest `name` (e.g. "hello"), building all guests first if needed.
    static func path(_ name: String) throws -> String {
        try built.withLock { state in
            if state == nil { state = build() }
            try state?.get()
        }
        let path = outputDirectory.appendingPathComponent("\(name).elf").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw GuestBuildError(description: "guest \(name) was not built (no \(path))")
        }
        return path
    }

    private static func build() -> Result<Void, GuestBuildError> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/make")
        process.arguments = ["-s", "-C", repositoryRoot.appendingPathComponent("Tests/Guests").path,
                             "OUT=\(outputDirectory.path)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            return .failure(GuestBuildError(description: "cannot run make: \(error)"))
        }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: output, as: UTF8.self)
            return .failure(GuestBuildError(description: "make of Tests/Guests failed: \(text)"))
        }
        return .success(())
    }

    /// A fresh temporary file path (removed by the caller or left in /tmp).
    static func temporaryFile(_ name: String, contents: [UInt8]) throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("vmhost-test-\(getpid())-\(UUID().uuidString)-\(name)")
        try Data(contents).write(to: url)
        return url.path
    }
}
