// swift-tools-version:6.1
// VMHost — a KVM virtual machine monitor whose devices and drivers are dlopen'ed plugins.
import PackageDescription

/// A device or driver plugin: one target under Plugins/, one shared-library product (lib<Name>.so).
struct PluginSpec {
    let name: String
    let kind: String  // "Devices" or "Drivers"
    let language: String  // "swift" or "c"
}

let plugins: [PluginSpec] = [
    .init(name: "DebugExit", kind: "Devices", language: "swift"),
    .init(name: "Serial16550", kind: "Devices", language: "swift"),
    .init(name: "Scratchpad", kind: "Devices", language: "c"),
    .init(name: "ProbeDevice", kind: "Devices", language: "swift"),
    .init(name: "Stdio", kind: "Drivers", language: "swift"),
    .init(name: "AsyncDelay", kind: "Drivers", language: "swift"),
    .init(name: "ProbeDriver", kind: "Drivers", language: "swift"),
    .init(name: "Char", kind: "Drivers", language: "swift"),
    .init(name: "File", kind: "Drivers", language: "swift"),
    .init(name: "UnixSocket", kind: "Drivers", language: "swift"),
    .init(name: "Block", kind: "Drivers", language: "swift"),
    .init(name: "RawFile", kind: "Drivers", language: "swift"),
    .init(name: "VirtioBlk", kind: "Devices", language: "swift"),
]

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let pluginTargets: [Target] = plugins.map { p in
    if p.language == "c" {
        return .target(name: p.name, dependencies: ["CVMHostABI"], path: "Plugins/\(p.kind)/\(p.name)")
    }
    let shared: [Target.Dependency] = p.name.hasPrefix("Probe") ? ["ProbeBehaviour"] : []
    return .target(name: p.name, dependencies: ["PluginSDK"] + shared, path: "Plugins/\(p.kind)/\(p.name)",
                   swiftSettings: strict)
}

let package = Package(
    name: "VMHost",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vmhost", targets: ["Host"]),
        .executable(name: "vmhost-bench", targets: ["VMHostBench"]),
        // For plugin authors: the C ABI header, the Swift SDK, and the test kit for their own test targets.
        .library(name: "VMHostPluginABI", targets: ["CVMHostABI"]),
        .library(name: "VMHostPluginSDK", targets: ["PluginSDK"]),
        .library(name: "VMHostPluginTestKit", targets: ["PluginTestKit"]),
        // `libVMHostYAML.so`, next to vmhost: read only when a configuration file is given.
        .library(name: "VMHostYAML", type: .dynamic, targets: ["VMHostYAML"]),
    ] + plugins.map { .library(name: $0.name, type: .dynamic, targets: [$0.name]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        // `swift package generate-documentation --target PluginSDK` (DocC; build-time only, links into nothing).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // ---- C shims and the ABI ----
        .target(name: "CVMHostABI", path: "Sources/CVMHostABI"),
        .target(name: "VMHostABINote", dependencies: ["CVMHostABI"], path: "Sources/VMHostABINote"),
        .systemLibrary(name: "CLibElf", path: "Sources/CLibElf"),
        .target(name: "CKVM", path: "Sources/CKVM"),

        // ---- Core ----
        .target(name: "KVM", dependencies: ["CKVM", .product(name: "SystemPackage", package: "swift-system")],
                swiftSettings: strict),
        .target(name: "ELF", dependencies: ["CLibElf"], swiftSettings: strict),
        .target(name: "PDM", dependencies: [
            "CVMHostABI", "ELF",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // YAML configuration files, loaded by the PDM on first use (Yams needs Foundation; vmhost does not).
        .target(name: "VMHostYAML", dependencies: [.product(name: "Yams", package: "Yams")], swiftSettings: strict),
        .target(name: "VMM", dependencies: [
            "PDM", "KVM", "CKVM", "ELF", "CVMHostABI",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
        ], swiftSettings: strict),
        .target(name: "ControlAPI", dependencies: [
            "VMM", "PDM",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .executableTarget(name: "Host", dependencies: [
            "VMM", "PDM", "ELF", "CVMHostABI", "ControlAPI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
        ], swiftSettings: strict),

        // ---- Code shared by plugins (linked statically into each) ----
        .target(name: "ProbeBehaviour", dependencies: ["PluginSDK"], path: "Plugins/Shared/ProbeBehaviour",
                swiftSettings: strict),

        // ---- For plugin authors ----
        .target(name: "PluginSystemShim", path: "Sources/PluginSystemShim"),
        .target(name: "PluginSDK", dependencies: ["CVMHostABI", "VMHostABINote", "PluginSystemShim"],
                swiftSettings: strict),
        .target(name: "PluginTestKit", dependencies: ["PDM", "CVMHostABI"], swiftSettings: strict),

        // ---- Tests (never depend on plugin targets: they dlopen the .so files, as the host does) ----
        // ---- Test support: the PVH test guests, built from source (not a product) ----
        .target(name: "TestGuestImages", swiftSettings: strict),

        // ---- Benchmarks (print figures; never timed tests) ----
        .executableTarget(name: "VMHostBench", dependencies: [
            "VMM", "PDM", "KVM", "ELF", "PluginTestKit", "ControlAPI", "TestGuestImages", "TestSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Benchmarks/VMHostBench", swiftSettings: strict),

        // Helpers shared by the test suites and the benchmarks (child processes with captured output and a
        // deadline).
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "PDMTests", dependencies: ["TestSupport", "PDM", "ELF", "PluginTestKit", "CVMHostABI"],
                    exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "VMMTests", dependencies: ["TestSupport", "VMM", "KVM", "ELF", "PDM", "PluginTestKit", "TestGuestImages"],
                    swiftSettings: strict),
        .testTarget(name: "ControlAPITests", dependencies: ["TestSupport", "ControlAPI", "VMM", "PDM", "KVM", "PluginTestKit", "TestGuestImages",
                                                          .product(name: "NIOHTTP1", package: "swift-nio"),
                                                          .product(name: "NIOCore", package: "swift-nio"),
                                                          .product(name: "NIOEmbedded", package: "swift-nio"),
                                                          .product(name: "Yams", package: "Yams")],
                    swiftSettings: strict),
        // Authors' kit: `vmhost plugin check/new`, the ABI header's compatibility promises, the C example.
        .testTarget(name: "AuthorKitTests", dependencies: ["TestSupport", "PDM", "ELF", "PluginTestKit", "CVMHostABI"],
                    exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "PluginTests", dependencies: ["TestSupport", "PluginTestKit", "PDM", "CVMHostABI"],
                    swiftSettings: strict),
        // The SDK itself, with device/driver types compiled into the test and registered in-process.
        .testTarget(name: "PluginSDKTests", dependencies: ["PluginSDK", "PluginTestKit", "PDM", "CVMHostABI"],
                    swiftSettings: strict),
    ] + pluginTargets
)
