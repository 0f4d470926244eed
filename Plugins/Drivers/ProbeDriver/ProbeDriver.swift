// The Probe driver: logs every PDM callback, for the PDM's walk tests (see DEVICE-SPECS.md).
//
// Settings as the Probe device without `luns`: `async-ms`, `async-on`, `never-complete`, `fail-on`. In construct it
// attaches the driver below if one is configured; it offers no interface of its own and passes queryInterface
// through to the driver below.
import PluginSDK

/// Probe driver settings, read and checked in construct.
struct ProbeDriverSettings {
    static let keys = ["async-ms", "async-on", "never-complete", "fail-on"]
    static let failable = ["", "construct", "initComplete", "powerOn", "resume"]

    let asyncMilliseconds: Int64
    let asyncOn: Set<PowerOperation>
    let neverComplete: Bool
    let failOn: String

    init(_ config: Configuration) throws(ConfigError) {
        try config.validate(keys: Self.keys)
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
}

/// The Probe driver.
final class ProbeDriver: DriverPlugin {
    static let name = "Probe"
    static let description = "Logs every PDM callback and passes interfaces through (walk tests)"
    static let maxInstances: UInt32 = 64

    private let context: DriverContext
    private let settings: ProbeDriverSettings

    init(context: DriverContext, flags: UInt32) throws {
        context.log("construct")
        self.context = context
        settings = try ProbeDriverSettings(context.config)
        try context.attachBelow()
        try failIfAsked("construct")
    }

    private func failIfAsked(_ callback: String) throws {
        if settings.failOn == callback {
            throw PluginError(.general, "fail-on asks \(callback) to fail")
        }
    }

    private func maybeAsync(_ operation: PowerOperation) -> PowerResult {
        guard settings.asyncOn.contains(operation), settings.asyncMilliseconds > 0 || settings.neverComplete else {
            return .done
        }
        if settings.neverComplete { return .pending }
        let completion = context.asyncCompletion()
        let milliseconds = settings.asyncMilliseconds
        do {
            try PluginThread.detach {
                PluginThread.sleep(milliseconds: milliseconds)
                completion.complete()
            }
        } catch {
            context.log(.error, "\(operation.rawValue): \(error); completing at once")
            return .done
        }
        return .pending
    }

    func initComplete() throws {
        context.log("initComplete")
        try failIfAsked("initComplete")
    }

    func powerOn() throws {
        context.log("powerOn")
        try failIfAsked("powerOn")
    }

    func reset() -> PowerResult {
        context.log("reset")
        return maybeAsync(.reset)
    }

    func suspend() -> PowerResult {
        context.log("suspend")
        return maybeAsync(.suspend)
    }

    func resume() throws {
        context.log("resume")
        try failIfAsked("resume")
    }

    func powerOff() -> PowerResult {
        context.log("powerOff")
        return maybeAsync(.powerOff)
    }

    func asyncOperationFinished(_ operation: PowerOperation) {
        context.log("\(operation.rawValue)-done")
    }

    func destruct() {
        context.log("destruct")
    }

    func queryInterface(iid: InterfaceID) -> UnsafeMutableRawPointer? {
        context.queryBelow(iid: iid)
    }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, drivers: [ProbeDriver.self])
}
