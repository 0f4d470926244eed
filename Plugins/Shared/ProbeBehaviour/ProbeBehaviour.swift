// What the Probe device and the Probe driver share (both are test plugins for the PDM's walks, DEVICE-SPECS.md):
// their settings and how they fail or go async when asked to. Linked statically into each of the two plugins.
import PluginSDK

/// Probe settings — `luns` (devices only), `async-ms`, `async-on`, `never-complete`, `fail-on` — and the behaviour
/// they ask for.
public struct ProbeBehaviour {
    /// Callbacks `fail-on` may name.
    public static let failable = ["", "construct", "initComplete", "powerOn", "resume"]

    /// LUNs 0..luns-1 to attach in construct (devices only; 0 for drivers).
    public let luns: UInt32
    /// When > 0, the operations in `asyncOn` complete from a worker thread after this many ms.
    public let asyncMilliseconds: Int64
    /// Which of suspend, powerOff and reset go async.
    public let asyncOn: Set<PowerOperation>
    /// The async operations never complete (deadline tests); implies async even with `async-ms` 0.
    public let neverComplete: Bool
    /// The callback that fails with VMH_ERR_GENERAL, or "".
    public let failOn: String

    /// Reads and checks the settings; `acceptsLUNs` allows the `luns` key (the device).
    public init(_ config: Configuration, acceptsLUNs: Bool) throws(ConfigError) {
        try config.validate(keys: (acceptsLUNs ? ["luns"] : []) + ["async-ms", "async-on", "never-complete", "fail-on"])
        luns = acceptsLUNs ? try config.integer("luns", as: UInt32.self, default: 0, in: 0...256) : 0
        asyncMilliseconds = try config.integer("async-ms", as: Int64.self, default: 0, in: 0...3_600_000)
        var operations = Set<PowerOperation>()
        for word in try config.string("async-on", default: "suspend|powerOff|reset").split(separator: "|") {
            guard let operation = PowerOperation(rawValue: String(word)) else {
                throw .invalidValue(key: "async-on", message: "'\(word)' is not suspend, powerOff or reset")
            }
            operations.insert(operation)
        }
        asyncOn = operations
        neverComplete = try config.bool("never-complete", default: false)
        failOn = try config.string("fail-on", default: "", oneOf: Self.failable)
    }

    /// Throws when `fail-on` names `callback`.
    public func failIfAsked(_ callback: String) throws {
        if failOn == callback {
            throw PluginError(.general, "fail-on asks \(callback) to fail")
        }
    }

    /// `.done`, or `.pending` with a worker thread that completes `completion()` after `async-ms` (never with
    /// `never-complete`). `logError` reports a worker that could not be started (the operation then completes).
    public func result(of operation: PowerOperation, completion: () -> AsyncCompletion,
                       logError: (String) -> Void) -> PowerResult {
        guard asyncOn.contains(operation), asyncMilliseconds > 0 || neverComplete else { return .done }
        if neverComplete { return .pending }
        let token = completion()
        let milliseconds = asyncMilliseconds
        do {
            try PluginThread.detach {
                PluginThread.sleep(milliseconds: milliseconds)
                token.complete()
            }
        } catch {
            logError("\(operation.rawValue): \(error); completing at once")
            return .done
        }
        return .pending
    }
}
