import ArgumentParser

/// Every benchmark subcommand. Add yours here.
let benchmarkCommands: [any ParsableCommand.Type] = [
    PluginLoadBenchmark.self,
    PDMWalkBench.self,
    ExitDispatchBench.self,
    PauseBench.self,
    PluginDispatchBench.self,
    BlockBench.self,
    APIBench.self,
]
