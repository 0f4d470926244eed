import Foundation
import Synchronization

/// Builds the PVH test guests of `Tests/Guests` with `make` (once per test process) into
/// `.build/test-guests` and hands out their paths.
enum GuestImages {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let outputDirectory = repositoryRoot.appendingPathComponent(".build/test-guests")
    private static let built = Mutex<Result<Void, BuildFailure>?>(nil)

    struct BuildFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// The image of guest `name` (`smp-counter`, `hello`, …).
    static func path(_ name: String) throws -> String {
        try built.withLock { state in
            if state == nil { state = make() }
            try state?.get()
        }
        let path = outputDirectory.appendingPathComponent("\(name).elf").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw BuildFailure(description: "guest \(name) was not built (no \(path))")
        }
        return path
    }

    private static func make() -> Result<Void, BuildFailure> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/make")
        process.arguments = ["-s", "-C", repositoryRoot.appendingPathComponent("Tests/Guests").path,
                             "OUT=\(outputDirectory.path)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return .failure(BuildFailure(description: "cannot run make: \(error)")) }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return .failure(BuildFailure(description: "make Tests/Guests failed: "
                + String(decoding: output, as: UTF8.self)))
        }
        return .success(())
    }
}
