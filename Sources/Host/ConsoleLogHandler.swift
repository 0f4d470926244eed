#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Readable log lines on stderr: seconds since process start, level, logger label, message, metadata.
/// `[    1.204] info    pdm: suspend: after 201 ms, 2 passes: 1 pending - Serial16550/0/0/AsyncDelay/0`
struct ConsoleLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// Process start, for the time column.
    static let start = ContinuousClock.now

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let (s, atto) = (ContinuousClock.now - Self.start).components
        let ms = String(atto / 1_000_000_000_000_000)
        let secs = String(s)
        var line = "[" + String(repeating: " ", count: max(0, 5 - secs.count)) + secs + "."
            + String(repeating: "0", count: 3 - ms.count) + ms + "] "
        let level = "\(event.level)"
        line += level + String(repeating: " ", count: max(1, 8 - level.count)) + label + ": \(event.message)"
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        if !all.isEmpty {
            line += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        line += "\n"
        line.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
    }
}
