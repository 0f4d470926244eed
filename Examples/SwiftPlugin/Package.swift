// swift-tools-version:6.1
// An out-of-tree VMHost device plugin in Swift: builds libOutbox.so, tested with the VMHost plugin test kit.
import PackageDescription

let package = Package(
    name: "Outbox",
    platforms: [.macOS(.v15)],
    products: [
        // The plugin: `swift build` puts libOutbox.so in the build folder (`swift build --show-bin-path`).
        .library(name: "Outbox", type: .dynamic, targets: ["Outbox"]),
    ],
    dependencies: [
        // This example lives inside the VMHost repository and uses it by path. Your own package names it by URL:
        //   .package(url: "https://github.com/<you>/VMHost.git", branch: "main")
        .package(name: "VMHost", path: "../.."),
    ],
    targets: [
        .target(name: "Outbox",
                dependencies: [.product(name: "VMHostPluginSDK", package: "VMHost")],
                swiftSettings: [.swiftLanguageMode(.v6)]),
        // The test target must not depend on the plugin target: it loads libOutbox.so from the build folder,
        // as vmhost does.
        .testTarget(name: "OutboxTests",
                    dependencies: [.product(name: "VMHostPluginTestKit", package: "VMHost")],
                    swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
