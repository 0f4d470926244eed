import ArgumentParser
import Logging
import PDM

/// `vmhost plugins`: every device and driver found, and every refused file with its reason.
struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the devices and drivers the plugin search path provides, and refused files.",
        discussion: "Exit status 0 when every file loaded, 1 when any was refused.")

    @Option(name: .customLong("path"), help: "A folder of plugin .so files (repeatable; searched first).")
    var paths: [String] = []

    @Flag(name: .customLong("no-default-path"), help: "Search only the --path folders.")
    var noDefaultPath = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.bootstrapLogging()
        let search = noDefaultPath ? paths : PluginSearchPath.resolve(explicit: paths)
        // The report below prints refusals; the registry's own log lines would only repeat them.
        var quiet = Logger(label: "vmhost.pdm.plugins")
        quiet.logLevel = .critical
        let registry = PluginRegistry(logger: quiet)
        let report = registry.loadAll(searchPaths: search)
        print("search path: \(search.joined(separator: ":"))")
        let rows: [[String]] = registry.devices.map { d in
            ["device", d.name, abi(d.module, hlp: d.registration.pointee.hlpVersion), d.module.displayName]
        } + registry.drivers.map { d in
            ["driver", d.name, abi(d.module, hlp: d.registration.pointee.hlpVersion), d.module.displayName]
        }
        printTable(header: ["KIND", "NAME", "ABI", "FILE"], rows: rows)
        if !report.refused.isEmpty {
            print("\nrefused:")
            for refusal in report.refused { print("  \(refusal.description)") }
            throw ExitCode(1)
        }
    }

    /// The helper-table version the registration was built against, e.g. "hlp 1.0".
    private func abi(_ module: PluginModule, hlp: UInt32) -> String {
        let v = ABIVersion(rawValue: hlp)
        return "hlp \(v.majorMinor)" + (module.abiNote == nil ? "" : " +note")
    }
}

/// Prints left-aligned columns.
func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
        }
        print(cells.joined(separator: "  "))
    }
}
