import ArgumentParser
import Logging

/// `vmhost`: runs one VM per process, lists plugins, and talks to a running VM.
@main
struct VMHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmhost",
        abstract: "A KVM virtual machine monitor whose devices and drivers are plugins.",
        subcommands: [RunCommand.self, DemoCommand.self, PluginsCommand.self, PluginCommand.self,
                      PauseCommand.self, ResumeCommand.self, ResetCommand.self, PowerOffCommand.self,
                      StatusCommand.self, DevicesCommand.self, EventsCommand.self])
}

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    /// Installs the console log handler once, at the chosen level.
    func bootstrapLogging() throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level: unknown level '\(logLevel)'")
        }
        LoggingSystem.bootstrap { ConsoleLogHandler(label: $0, level: level) }
    }
}
