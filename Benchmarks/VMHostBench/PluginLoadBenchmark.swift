import ArgumentParser
import ELF
import Logging
import PDM

#if canImport(Glibc)
import Glibc
#endif

/// `vmhost-bench plugin-load`: what reading and loading plugins costs — ELFFile parse per plugin product, and
/// `PluginRegistry.loadAll` over the products folder, first (cold dlopen) and repeated (module already mapped).
struct PluginLoadBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin-load",
        abstract: "Time ELF inspection and plugin loading of the plugin products next to this executable.")

    @Option(help: "Repetitions per measurement (the median is printed).")
    var repetitions = 50

    @Option(help: "Plugin folder (default: the folder of this executable).")
    var directory: String?

    func run() throws {
        let folder = directory ?? PluginLoadBenchmark.executableFolder()
        let names = (try? PluginRegistry.pluginFileNames(in: folder)) ?? []
        print("plugin-load: \(names.count) plugin files in \(folder), \(repetitions) repetitions, median")
        let clock = ContinuousClock()
        for name in names {
            let path = folder + "/" + name
            var samples: [Duration] = []
            var summary = ""
            for _ in 0..<max(repetitions, 1) {
                let start = clock.now
                let file = try? ELFFile(path: path)
                samples.append(clock.now - start)
                summary = file.map { "\($0.fileSize) bytes, \($0.sections.count) sections, "
                    + "\($0.dynamicSymbols.count) dynamic symbols" } ?? "not readable"
            }
            print("  ELFFile \(name): \(PluginLoadBenchmark.format(PluginLoadBenchmark.median(samples))) (\(summary))")
        }
        var quiet = Logger(label: "vmhost-bench.plugin-load")
        quiet.logLevel = .critical
        let coldStart = clock.now
        let cold = PluginRegistry(logger: quiet).loadAll(searchPaths: [folder])
        let coldTime = clock.now - coldStart
        print("  loadAll, first (dlopen maps the modules): \(PluginLoadBenchmark.format(coldTime)) — "
            + "\(cold.loaded.count) loaded, \(cold.refused.count) refused")
        var warm: [Duration] = []
        for _ in 0..<max(repetitions, 1) {
            let start = clock.now
            _ = PluginRegistry(logger: quiet).loadAll(searchPaths: [folder])
            warm.append(clock.now - start)
        }
        print("  loadAll, repeated (modules already mapped): \(PluginLoadBenchmark.format(PluginLoadBenchmark.median(warm)))")
    }

    private static func executableFolder() -> String { ExecutableLocation.directory ?? "." }

    private static func median(_ samples: [Duration]) -> Duration {
        let sorted = samples.sorted()
        return sorted.isEmpty ? .zero : sorted[sorted.count / 2]
    }

    private static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let microseconds = Double(seconds) * 1e6 + Double(attoseconds) / 1e12
        return microseconds >= 1000 ? "\((microseconds / 10).rounded() / 100) ms" : "\((microseconds * 10).rounded() / 10) µs"
    }
}
