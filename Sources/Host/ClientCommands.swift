import ArgumentParser
import ControlAPI
import Glibc
import NIOHTTP1

/// Options every client verb shares.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("api-socket"), help: "The control socket of the VM (vmhost run --api-socket).")
    var apiSocket: String

    @Flag(name: .customLong("json"), help: "Print the server's JSON instead of text.")
    var json = false

    /// Connects, or prints why not and exits 2.
    func connect() throws -> ControlClient {
        do {
            return try ControlClient.connect(socketPath: apiSocket)
        } catch {
            ClientOutput.fail("\(error)", json: json, exitCode: 2)
        }
    }
}

/// Printing and exiting for the client verbs.
enum ClientOutput {
    /// Prints `message` (stderr; with --json a fault object on stdout) and exits with `exitCode`.
    static func fail(_ message: String, json: Bool, exitCode: Int32 = 1) -> Never {
        if json {
            print(#"{"fault_message":"# + quoted(message) + "}")
        } else {
            var line = "vmhost: " + message + "\n"
            line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
        exit(exitCode)
    }

    /// Exits non-zero with the server's message unless `response` has status `expected`.
    static func require(_ response: ControlClient.Response, _ expected: Int, json: Bool) {
        guard response.status != expected else { return }
        if json, response.faultMessage != nil {
            print(response.text)
            exit(1)
        }
        fail(response.faultMessage ?? "HTTP \(response.status): \(response.text)", json: false)
    }

    /// A JSON string literal (quotes included).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// One state-changing verb: sends its request, waits for 204, prints what happened.
private func runStateChange(_ options: ClientOptions, method: HTTPMethod, path: String, json body: [UInt8],
                            done: String) throws {
    let client = try options.connect()
    defer { client.close() }
    let response: ControlClient.Response
    do {
        response = try client.request(method, path, json: body)
    } catch {
        ClientOutput.fail("\(error)", json: options.json, exitCode: 2)
    }
    ClientOutput.require(response, 204, json: options.json)
    let outcome = response.header("VMHost-Outcome") ?? "done"
    if options.json {
        print(#"{"outcome":"# + ClientOutput.quoted(outcome) + "}")
    } else {
        print(outcome == "done" ? done : "\(done) (\(outcome.split(separator: "-").joined(separator: " ")))")
    }
}

/// `vmhost pause`: suspends the VM; returns once it is suspended.
struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause",
                                                    abstract: "Suspend a running VM (returns once it is suspended).")
    @OptionGroup var options: ClientOptions

    func run() throws {
        try runStateChange(options, method: .PATCH, path: "/vm", json: Array(#"{"state":"Paused"}"#.utf8),
                           done: "VM suspended")
    }
}

/// `vmhost resume`: resumes a suspended VM.
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume",
                                                    abstract: "Resume a suspended VM (returns once it runs).")
    @OptionGroup var options: ClientOptions

    func run() throws {
        try runStateChange(options, method: .PATCH, path: "/vm", json: Array(#"{"state":"Resumed"}"#.utf8),
                           done: "VM running")
    }
}

/// `vmhost reset`: hard reset.
struct ResetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reset", abstract: "Hard-reset the VM.")
    @OptionGroup var options: ClientOptions

    func run() throws {
        try runStateChange(options, method: .PUT, path: "/actions", json: Array(#"{"action_type":"Reset"}"#.utf8),
                           done: "VM reset")
    }
}

/// `vmhost poweroff`: powers the VM off.
struct PowerOffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "poweroff", abstract: "Power the VM off.")
    @OptionGroup var options: ClientOptions

    func run() throws {
        try runStateChange(options, method: .PUT, path: "/actions",
                           json: Array(#"{"action_type":"PowerOff"}"#.utf8), done: "VM powered off")
    }
}

/// `vmhost status`: state, reason, vCPUs, uptime, boot timeline.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status",
                                                    abstract: "Show the VM's state, uptime and boot timeline.")
    @OptionGroup var options: ClientOptions

    func run() throws {
        let client = try options.connect()
        defer { client.close() }
        let response: ControlClient.Response
        do {
            response = try client.request(.GET, "/vm")
        } catch {
            ClientOutput.fail("\(error)", json: options.json, exitCode: 2)
        }
        ClientOutput.require(response, 200, json: options.json)
        if options.json {
            print(response.text)
            return
        }
        guard let status = try? response.decode(VMStatusResponse.self) else {
            ClientOutput.fail("unreadable answer: \(response.text)", json: false)
        }
        print("state:   \(status.state)" + (status.reason.map { " (\($0))" } ?? ""))
        print("vcpus:   \(status.vcpus)")
        if let uptime = status.uptimeMs { print("uptime:  \(ClientFormat.ms(uptime))") }
        if let exitStatus = status.exitStatus { print("exit status requested: \(exitStatus)") }
        if let guru = status.guruMeditation { print("guru meditation on vCPU \(guru.vcpu): \(guru.reason)") }
        let boot = status.bootTimeline.sorted { $0.value < $1.value }
        if !boot.isEmpty {
            print("boot timeline (since process start):")
            for (name, ms) in boot {
                let label = name.hasSuffix("_ms") ? String(name.dropLast(3)) : name
                print("  \(label.padding(28)) \(ClientFormat.ms(ms))")
            }
        }
    }
}

/// `vmhost devices`: the device instance tree.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices", abstract: "List device instances, their LUN driver chains and pending async work.")
    @OptionGroup var options: ClientOptions

    func run() throws {
        let client = try options.connect()
        defer { client.close() }
        let response: ControlClient.Response
        do {
            response = try client.request(.GET, "/devices")
        } catch {
            ClientOutput.fail("\(error)", json: options.json, exitCode: 2)
        }
        ClientOutput.require(response, 200, json: options.json)
        if options.json {
            print(response.text)
            return
        }
        guard let tree = try? response.decode(DeviceTreeResponse.self) else {
            ClientOutput.fail("unreadable answer: \(response.text)", json: false)
        }
        if tree.devices.isEmpty { print("no devices") }
        for device in tree.devices {
            print("\(device.name) [\(device.device), order \(device.order)]" + ClientFormat.flags(
                pending: device.asyncPending, failed: device.failedToQuiesce))
            for lun in device.luns {
                let chain = lun.drivers.map { $0.name.split(separator: "/").suffix(2).joined(separator: "/")
                    + ClientFormat.flags(pending: $0.asyncPending, failed: $0.failedToQuiesce) }
                print("  LUN \(lun.lun): " + (chain.isEmpty ? "(no driver)" : chain.joined(separator: " -> ")))
            }
        }
    }
}

/// `vmhost events`: follows the event stream until the VM's server goes away (or Ctrl-C).
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Follow state changes, suspend progress and guest faults.")
    @OptionGroup var options: ClientOptions

    func run() throws {
        let client = try options.connect()
        defer { client.close() }
        let json = options.json
        let response: ControlClient.Response
        do {
            response = try client.followEvents { line in
                var text = json ? line : ((try? ControlEvent(jsonLine: line)).map(ClientFormat.event) ?? line)
                text += "\n"
                // Unbuffered, so a pipe sees each event at once.
                text.withUTF8 { _ = write(STDOUT_FILENO, $0.baseAddress, $0.count) }
                return true
            }
        } catch {
            ClientOutput.fail("\(error)", json: json, exitCode: 2)
        }
        ClientOutput.require(response, 200, json: json)
    }
}

/// Text formatting of the client verbs.
enum ClientFormat {
    static func ms(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) ms"
    }

    static func flags(pending: Bool, failed: Bool) -> String {
        (pending ? " (async pending)" : "") + (failed ? " (failed to quiesce)" : "")
    }

    static func event(_ e: ControlEvent) -> String {
        let time = "[\(ms(e.timeMs))]"
        switch e.type {
        case "state":
            if let previous = e.previous { return "\(time) \(previous) -> \(e.state ?? "?")" }
            return "\(time) state \(e.state ?? "?")"
        case "progress":
            let pending = e.pending ?? []
            return "\(time) \(e.operation ?? "walk"): after \(e.elapsedMs ?? 0) ms, \(e.passes ?? 0) passes, "
                + "\(pending.count) pending: \(pending.joined(separator: ", "))"
        case "guru_meditation":
            return "\(time) guru meditation on vCPU \(e.vcpu ?? -1): \(e.reason ?? "")"
        case "overflow":
            return "\(time) (\(e.dropped ?? 0) events lost: client too slow)"
        default:
            return "\(time) \(e.type)"
        }
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
