import ArgumentParser
import CVMHostABI
import ELF
import Logging
import PDM

/// `vmhost plugin check FILE`: the loader's judgement of one plugin file, as a report — ELF class, machine and
/// type, the exported entry symbol, the ABI versions of its note against this host's (table by table), the
/// devices and drivers it registers (it is loaded into a private registry, so its entry point runs), and the
/// verdict: would this host accept it, and if not, why. Exit status 0 when accepted, 1 otherwise.
struct PluginCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Report whether this vmhost would load a plugin file, and why not.",
        discussion: """
            Shows the file's ELF class, machine and type, the exported entry symbol, the ABI versions recorded in \
            its .note.vmhost note next to the versions this host implements, and the devices and drivers it \
            registers. Unless --no-load is given, a file that passes the checks made before loading is loaded \
            into a private registry (its entry point runs) to list what it registers. \
            Exit status 0 when the host would accept the file, 1 when it would refuse it.
            """)

    @Argument(help: "The plugin shared object (lib<Name>.so).")
    var file: String

    @Flag(name: .customLong("no-load"), help: "Only the checks made before loading; run none of the file's code.")
    var noLoad = false

    func run() throws {
        let report = PluginCheckReport.make(path: file, load: !noLoad)
        print(report.text, terminator: "")
        if !report.accepted { throw ExitCode(1) }
    }
}

/// The findings of `vmhost plugin check` on one file: printable lines and the verdict.
struct PluginCheckReport {
    /// The report, one finding per line, ending with the verdict line.
    var text = ""
    /// True when this host would load the file.
    var accepted = false

    private mutating func line(_ label: String, _ value: String) {
        let pad = String(repeating: " ", count: max(1, 14 - label.count))
        text += label + ":" + pad + value + "\n"
    }

    /// Judges the file at `path`; with `load`, an acceptable file is loaded into a private registry to list what
    /// it registers (which runs its entry point).
    static func make(path: String, load: Bool) -> PluginCheckReport {
        var report = PluginCheckReport()
        report.line("file", path)
        report.describeELF(path: path)

        let inspection: PluginFileInspection
        do {
            inspection = try PluginRegistry.inspect(path: path)
        } catch {
            report.verdict(refused: error.reason)
            return report
        }
        if inspection.resolvedPath != path { report.line("resolved", inspection.resolvedPath) }
        report.line("module", inspection.moduleName)
        guard load else {
            report.line("registers", "not loaded (--no-load)")
            report.text += "verdict:      ACCEPTED by the checks before loading (registrations not checked)\n"
            report.accepted = true
            return report
        }
        var quiet = Logger(label: "vmhost.plugin-check")
        quiet.logLevel = .critical
        let registry = PluginRegistry(logger: quiet)
        do {
            try registry.load(path: path)
        } catch {
            report.verdict(refused: error.reason)
            return report
        }
        report.listRegistrations(registry)
        report.text += "verdict:      ACCEPTED: this host would load \(inspection.moduleName)\n"
        report.accepted = true
        return report
    }

    private mutating func verdict(refused reason: String) {
        text += "verdict:      REFUSED: \(reason)\n"
        accepted = false
    }

    /// Format, entry symbol and ABI note lines, as far as the file can be parsed.
    private mutating func describeELF(path: String) {
        let file: ELFFile
        do {
            file = try ELFFile(path: path)
        } catch {
            line("format", "unreadable as ELF (\(error.reason))")
            return
        }
        let wanted = file.elfClass == .elf64 && file.machine == .x86_64 && file.type == .sharedObject
        line("format", "\(file.elfClass) \(file.dataEncoding), \(file.machine), \(file.type)"
             + (wanted ? "" : " — plugins are ELF64 x86-64 shared objects (ET_DYN)"))
        let entryName = VMH_PLUGIN_ENTRY_NAME
        if let entry = file.dynamicSymbols.first(where: { $0.name == entryName && $0.isDefined }) {
            line("entry symbol", "\(entryName) (\(entry.binding) \(entry.type), defined at 0x\(String(entry.value, radix: 16)))")
        } else if file.dynamicSymbol(named: entryName) != nil {
            line("entry symbol", "\(entryName) is imported, not defined")
        } else {
            line("entry symbol", "missing: \(entryName) is not in .dynsym")
        }
        let notes = file.notes(owner: PluginABINote.owner, type: PluginABINote.type)
        guard let note = notes.first else {
            line("ABI note", "none (judged from the registration structs only)")
            return
        }
        guard let abi = PluginABINote(note: note) else {
            line("ABI note", "malformed: \(note.desc.count)-byte descriptor, expected \(PluginABINote.descriptorSize)")
            return
        }
        line("ABI note", "\(note.sectionName ?? "PT_NOTE"), owner \(PluginABINote.owner)")
        let rows = ABITable.allCases.map { table -> [String] in
            let host = table.hostVersion
            guard let built = abi.version(of: table) else { return [table.displayName, "-", host.majorMinor, "absent"] }
            let status: String
            if table.incompatibility(built: built) != nil {
                status = built.magic != host.magic ? "REFUSED (wrong magic)"
                    : built.major != host.major ? "REFUSED (other major)" : "REFUSED (newer minor)"
            } else {
                status = built == host ? "ok" : "ok (older minor)"
            }
            return ["  " + table.displayName, built.majorMinor, host.majorMinor, table.macroName, status]
        }
        text += PluginCheckReport.table(header: ["  TABLE", "BUILT", "HOST", "MACRO", "STATUS"], rows: rows)
    }

    /// The device and driver lines of a loaded module.
    private mutating func listRegistrations(_ registry: PluginRegistry) {
        let devices = registry.devices
        let drivers = registry.drivers
        line("registers", "\(devices.count) device(s), \(drivers.count) driver(s)")
        var rows: [[String]] = []
        for d in devices {
            rows.append(["  device", d.name, PluginCheckReport.deviceFlags(d.flags),
                         PluginCheckReport.orderName(d.order), "\(d.maxInstances)",
                         "\(d.instanceSize) B/instance", "hlp \(d.helperVersion.majorMinor)", d.summary])
        }
        for d in drivers {
            rows.append(["  driver", d.name, "0x\(String(d.flags, radix: 16))", "-", "\(d.maxInstances)",
                         "\(d.instanceSize) B/instance", "hlp \(d.helperVersion.majorMinor)", d.summary])
        }
        if !rows.isEmpty {
            text += PluginCheckReport.table(header: ["  KIND", "NAME", "FLAGS", "ORDER", "INSTANCES", "DATA",
                                                     "ABI", "DESCRIPTION"], rows: rows)
        }
    }

    /// `0x107 (FIRST_SUSPEND|FIRST_POWEROFF|FIRST_RESET|THREAD_SAFE)`.
    static func deviceFlags(_ flags: UInt32) -> String {
        let names: [(UInt32, String)] = [
            (VMH_DEVREG_F_FIRST_SUSPEND, "FIRST_SUSPEND"), (VMH_DEVREG_F_FIRST_POWEROFF, "FIRST_POWEROFF"),
            (VMH_DEVREG_F_FIRST_RESET, "FIRST_RESET"), (VMH_DEVREG_F_THREAD_SAFE, "THREAD_SAFE"),
        ]
        let set = names.filter { flags & $0.0 != 0 }.map(\.1)
        return "0x\(String(flags, radix: 16))" + (set.isEmpty ? "" : " (" + set.joined(separator: "|") + ")")
    }

    /// `10000 (MISC)` for the VMH_DEVORDER_* values, else the number.
    static func orderName(_ order: UInt32) -> String {
        let names: [UInt32: String] = [
            VMH_DEVORDER_PLATFORM: "PLATFORM", VMH_DEVORDER_INTERRUPT: "INTERRUPT", VMH_DEVORDER_TIMER: "TIMER",
            VMH_DEVORDER_BUS: "BUS", VMH_DEVORDER_STORAGE: "STORAGE", VMH_DEVORDER_NETWORK: "NETWORK",
            VMH_DEVORDER_SERIAL: "SERIAL", VMH_DEVORDER_MISC: "MISC",
        ]
        return names[order].map { "\(order) (\($0))" } ?? "\(order)"
    }

    /// Left-aligned columns as text.
    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { i < $0.count ? $0[i].count : 0 }.max() ?? 0 }
        var out = ""
        for row in all {
            let cells = row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }
            out += cells.joined(separator: "  ") + "\n"
        }
        return out
    }
}
