import ArgumentParser
import PDM

/// The machine and device options `vmhost run` and `vmhost demo` share, and how they become a configuration.
struct MachineOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "VM configuration file (YAML or JSON; see docs/configuration.md).")
    var config: String?

    @Option(name: .customLong("kernel"), help: "PVH ELF guest to boot (overrides machine.kernel).")
    var kernel: String?

    @Option(name: .customLong("cmdline"), help: "Guest command line (overrides machine.cmdline).")
    var cmdline: String?

    @Option(name: .customLong("cpus"), help: "Number of vCPUs (overrides machine.cpus).")
    var cpus: Int?

    @Option(name: .customLong("memory"), help: "Guest RAM in MiB (overrides machine.memory-mib).")
    var memory: Int?

    @Option(name: .customLong("device"),
            help: "Add a plugin device: NAME[,key=value…][,lunN=DRIVER(key=value…)/BELOW…] (repeatable).")
    var devices: [String] = []

    @Option(name: .customLong("plugin-path"), help: "A folder of plugin .so files (repeatable; searched first).")
    var pluginPaths: [String] = []

    @Flag(name: .customLong("no-default-devices"),
          help: "Do not add the default COM1 (Serial16550 -> Stdio) and DebugExit (0x501) devices.")
    var noDefaultDevices = false

    /// The configuration: the file (if any), then the command-line overrides and devices, then the defaults.
    func configuration() throws -> VMConfiguration {
        var configuration = VMConfiguration()
        if let path = config {
            let text: String
            do {
                text = try readTextFile(path)
            } catch {
                throw ValidationError("--config \(path): \(error)")
            }
            do {
                configuration = try VMConfiguration(yaml: text)
            } catch {
                throw ValidationError("\(path): \(error)")
            }
        }
        if let kernel { configuration.machine.kernel = kernel }
        if let cmdline { configuration.machine.cmdline = cmdline }
        if let cpus { configuration.machine.cpus = cpus }
        if let memory { configuration.machine.memoryMiB = memory }
        for (i, argument) in devices.enumerated() {
            do {
                configuration.addDevice(try DeviceConfig(commandLine: argument, index: i))
            } catch {
                throw ValidationError("--device \(argument): \(error)")
            }
        }
        if !noDefaultDevices {
            let names = Set(configuration.devices.map(\.name))
            for device in DefaultDevices.all where !names.contains(device.name) {
                configuration.addDevice(device)
            }
        }
        return configuration
    }
}

/// What a VM gets when the configuration does not name these devices: a console and a way out.
enum DefaultDevices {
    static var all: [DeviceConfig] {
        [
            DeviceConfig(name: "Serial16550", settings: ["iobase": .integer(0x3f8), "irq": .integer(4)])
                .lun(0, DriverConfig(name: "Stdio")),
            DeviceConfig(name: "DebugExit", settings: ["iobase": .integer(0x501), "iosize": .integer(2)]),
        ]
    }
}
