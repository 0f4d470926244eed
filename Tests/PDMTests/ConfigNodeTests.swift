import Foundation
@testable import PDM
import Testing
import TestSupport

/// The YAML front end lives in `libVMHostYAML.so` (so that `vmhost` does not load Foundation): the tree
/// encoding it hands back is decoded defensively, and the host reports a missing library with a way out.
@Suite struct ConfigNodeTests {
    static func decode(_ bytes: [UInt8]) -> ConfigNode? {
        bytes.withUnsafeBytes { ConfigNode.decode($0) }
    }

    static func scalar(_ tag: Character, _ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        let n = UInt32(utf8.count)
        return [tag.asciiValue!, UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24)] + utf8
    }

    @Test func decodesScalarsListsAndOrderedMaps() throws {
        let bytes: [UInt8] = [UInt8(ascii: "M"), 2, 0, 0, 0] + Self.scalar("S", "b") + Self.scalar("Q", "0x10")
            + Self.scalar("S", "a") + [UInt8(ascii: "L"), 1, 0, 0, 0] + Self.scalar("S", "1")
        guard case let .mapping(pairs) = try #require(Self.decode(bytes)) else { Issue.record("not a map"); return }
        #expect(pairs.count == 2)
        guard case let .scalar(k0, _) = pairs[0].key, case let .scalar(v0, plain0) = pairs[0].value,
              case let .scalar(k1, _) = pairs[1].key, case let .sequence(items) = pairs[1].value else {
            Issue.record("wrong shapes: \(pairs)")
            return
        }
        #expect(k0 == "b" && v0 == "0x10" && !plain0)
        #expect(k1 == "a" && items.count == 1)
    }

    static let malformed: [[UInt8]] = [
        [],                                                    // nothing
        [UInt8(ascii: "X")],                                   // unknown tag
        [UInt8(ascii: "S"), 5, 0, 0, 0, 65],                   // scalar longer than the buffer
        [UInt8(ascii: "L"), 0xff, 0xff, 0xff, 0x7f],           // huge count
        [UInt8(ascii: "M"), 1, 0, 0, 0, UInt8(ascii: "A")],    // key without value
        [UInt8(ascii: "A"), UInt8(ascii: "A")],                // trailing bytes
    ]

    @Test(arguments: malformed)
    func refusesMalformedEncodings(bytes: [UInt8]) {
        #expect(Self.decode(bytes) == nil)
    }

    @Test func refusesNestingBeyondTheLimit() {
        let level: [UInt8] = [UInt8(ascii: "L"), 1, 0, 0, 0]
        var deep: [UInt8] = []
        for _ in 0..<600 { deep += level }
        deep.append(UInt8(ascii: "A"))
        #expect(Self.decode(deep) == nil)
    }

    @Test func emptyDocumentIsAnEmptyConfiguration() throws {
        let config = try VMConfiguration(yaml: "# nothing but a comment\n")
        #expect(config.devices.isEmpty)
    }

    static var products: String { TestFixtures.productsDirectory.path }

    @Test func vmhostDoesNotLinkFoundation() throws {
        let vmhost = Self.products + "/vmhost"
        try #require(FileManager.default.isExecutableFile(atPath: vmhost), "vmhost not built next to the tests")
        let outcome = try ChildProcess.run(["readelf", "-d", vmhost], timeout: 60)
        #expect(outcome.succeeded, "\(outcome)")
        #expect(outcome.output.contains("(NEEDED)"))
        #expect(!outcome.output.contains("libFoundation.so"), "\(outcome.output)")
        #expect(!outcome.output.contains("ICU"))
    }

    @Test func missingYAMLLibraryIsNamedWithAWayOut() throws {
        let vmhost = Self.products + "/vmhost"
        try #require(FileManager.default.isExecutableFile(atPath: vmhost), "vmhost not built next to the tests")
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("vmhost-noyaml-\(getpid()).yaml")
        try "machine: {cpus: 1}\n".write(to: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: config) }
        let outcome = try ChildProcess.run(["env", "VMHOST_YAML_LIBRARY=/nonexistent/libVMHostYAML.so", vmhost, "run",
                                            "--config", config.path], timeout: 60)
        #expect(outcome.status != 0)
        #expect(outcome.errors.contains("YAML support (libVMHostYAML.so) did not load from /nonexistent/libVMHostYAML.so"),
                "\(outcome)")
        #expect(outcome.errors.contains("VMHOST_YAML_LIBRARY"))
    }
}
