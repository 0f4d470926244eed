import ArgumentParser

/// `vmhost-bench <benchmark>`: prints figures; each benchmark lives in its own file as a subcommand.
@main
struct VMHostBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmhost-bench",
        abstract: "VMHost benchmarks (print figures, compared against floors and peers).",
        subcommands: benchmarkCommands)
}
