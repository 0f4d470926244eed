import ArgumentParser
import ControlAPI
import Logging
import PDM
import VMM
#if canImport(Glibc)
import Glibc
#endif

/// `vmhost run`: the VM process. Builds the VM from the configuration and options, powers it on, and runs until
/// the guest (DebugExit), a signal or a client powers it off. Exit status: the guest's DebugExit status, 0 after a
/// plain power-off, 2 when the VM could not be built or started, 3 after a guru meditation.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a VM: boot a PVH guest with plugin devices.")

    @OptionGroup var machine: MachineOptions
    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("api-socket"),
            help: "Serve the control API on this Unix socket (mode 0600; its directory must be yours and not writable by others).")
    var apiSocket: String?

    func run() throws {
        BootTimeline.process.mark(.argumentsParsed)
        try global.bootstrapLogging()
        let logger = Logger(label: "vmhost")
        SignalWatcher.blockInProcess()
        let configuration = try machine.configuration()
        BootTimeline.process.mark(.configurationLoaded)
        // The control socket listens before plugins load and the VM is built (it answers "creating" until then);
        // its event loop starts meanwhile, and must be serving before the VM powers on.
        let server: ControlServer?
        do {
            server = try apiSocket.map { path throws(ControlServerError) in try ControlServer.listen(socketPath: path, threadPriority: .realtime) }
        } catch {
            logger.critical("\(error)")
            throw ExitCode(2)
        }
        defer { server?.close() }
        let vm = try VMLauncher.launch(configuration: configuration, pluginPaths: machine.pluginPaths, logger: logger) {
            vm throws(ControlServerError) in
            try server?.waitUntilServing()
            server?.attach(vm: vm)
        }
        SignalWatcher.start { signal in
            logger.notice("signal \(signal): powering off")
            vm.requestPowerOff(exitStatus: 128 + signal)
        }
        let final = vm.waitForState { $0 == .off || $0 == .guruMeditation } ?? vm.state
        var status: Int32 = vm.requestedExitStatus ?? 0
        if final == .guruMeditation {
            if let report = vm.guruMeditation {
                logger.critical("guru meditation on vCPU \(report.vcpu): \(report.reason)\n\(report.registers)")
            }
            status = 3
            _ = try? vm.powerOff()
        }
        server?.close()
        do { try vm.destroy() } catch { logger.error("destroy: \(error)") }
        logger.info("VM off, exit status \(status)")
        throw ExitCode(status)
    }
}

/// Loads plugins, builds the VM and powers it on, with errors that say which step failed.
enum VMLauncher {
    static func launch(configuration: VMConfiguration, pluginPaths: [String], logger: Logger,
                       beforePowerOn: (VirtualMachine) throws -> Void = { _ in }) throws -> VirtualMachine {
        let search = PluginSearchPath.resolve(explicit: pluginPaths, fromConfig: configuration.pluginPaths)
        let registry = PluginRegistry()
        let report = registry.loadNeeded(devices: configuration.deviceNames, drivers: configuration.driverNames,
                                         searchPaths: search)
        BootTimeline.process.mark(.pluginsLoaded)
        logger.info("plugins: loaded \(report.loaded.map(\.name).joined(separator: ", ")) for the configuration; \(report.notLoaded.count) other plugin file(s) left unloaded; \(report.refused.count) refused")
        let vm: VirtualMachine
        do {
            vm = try VirtualMachine.create(configuration: configuration, registry: registry,
                                           logger: Logger(label: "vmhost.vm"))
        } catch {
            logger.critical("cannot create the VM: \(error)")
            throw ExitCode(2)
        }
        do {
            try beforePowerOn(vm)
        } catch {
            logger.critical("\(error)")
            try? vm.destroy()
            throw ExitCode(2)
        }
        do {
            _ = try vm.powerOn()
        } catch {
            logger.critical("cannot power on: \(error)")
            try? vm.destroy()
            throw ExitCode(2)
        }
        return vm
    }
}
