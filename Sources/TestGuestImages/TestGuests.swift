import Foundation
import Synchronization

/// The PVH test guests of `Tests/Guests`, for tests and benchmarks: built from source with `make` (incremental,
/// so always current) once per process into `<repository>/.build/test-guests`.
public enum TestGuests {
    /// The repository root, from this file's path (`<root>/Sources/TestGuestImages/TestGuests.swift`).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where guests are built when they are not next to the executable.
    public static let outputDirectory = repositoryRoot.appendingPathComponent(".build/test-guests")

    /// Why a guest is not available.
    public struct GuestBuildError: Error, CustomStringConvertible {
        public let description: String
    }

    private static let built = Mutex<Result<Void, GuestBuildError>?>(nil)

    /// Path of guest `name` (e.g. "hello", "smp-counter"), after bringing every guest up to date (once per
    /// process).
    public static func path(_ name: String) throws -> String {
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

    /// The folder holding every guest (see `path(_:)`).
    public static func folder() throws -> String {
        URL(fileURLWithPath: try path("hello")).deletingLastPathComponent().path
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
            return .failure(GuestBuildError(description: "make -C Tests/Guests failed: \(text)"))
        }
        return .success(())
    }

    /// A fresh temporary file with `contents` (removed by the caller or left in /tmp).
    public static func temporaryFile(_ name: String, contents: [UInt8]) throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("vmhost-test-\(getpid())-\(UUID().uuidString)-\(name)")
        try Data(contents).write(to: url)
        return url.path
    }
}
