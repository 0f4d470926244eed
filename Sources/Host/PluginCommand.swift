import ArgumentParser

/// `vmhost plugin`: tools for plugin authors — judge a built plugin, or start a new one from a skeleton.
struct PluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "Tools for plugin authors: check a plugin file, or create a new plugin skeleton.",
        subcommands: [PluginCheckCommand.self, PluginNewCommand.self])
}
