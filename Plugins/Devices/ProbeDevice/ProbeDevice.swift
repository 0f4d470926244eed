// Probe and ProbeFirst: devices that log every callback, for the PDM's walk tests (see DEVICE-SPECS.md).
//
// Settings: `luns` (attach LUNs 0..luns-1 in construct), `async-ms` (when > 0 the callbacks named by `async-on`
// go async and a worker thread completes them after that many ms), `async-on` ('|'-separated subset of
// suspend|powerOff|reset), `never-complete` (the async ones never complete; implies async even with async-ms 0),
// `fail-on` (construct|initComplete|powerOn|resume: that callback fails with VMH_ERR_GENERAL).
// Every callback logs one INFO line that is exactly its name; a completed async operation logs `<name>-done`.
import PluginSDK

/// Probe's settings, read and checked in construct.
struct ProbeSettings {
    static let keys = ["luns", "async-ms", "async-on", "never-complete", "fail-on"]
    static let failable = ["", "construct", "initComplete", "powerOn", "resume"]

    let luns: UInt32
    let asyncMilliseconds: Int64
    let asyncOn: Set<PowerOperation>
    let neverComplete: Bool
    let failOn: String

    init(_ config: Configuration) throws(ConfigError) {
        try config.validate(keys: Self.keys)
        luns = try config.integer("luns", as: UInt32.self, default: 0, in: 0...256)
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

/// The Probe device.
class Probe: DevicePlugin {
    class var name: String { "Probe" }
    class var description: String { "Logs every PDM callback (walk tests)" }
    class var maxInstances: UInt32 { 64 }
    // Declared here (not left to the protocol default) so that ProbeFirst's override is the witness.
    class var flags: DeviceFlags { [] }

    let context: DeviceContext
    let settings: ProbeSettings

    required init(context: DeviceContext) throws {
        context.log("construct")
        self.context = context
        settings = try ProbeSettings(context.config)
        for lun in 0..<settings.luns {
            try context.attachDriver(lun: lun)
        }
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
}

/// ProbeFirst: Probe notified before its drivers on suspend, power-off and reset.
final class ProbeFirst: Probe {
    override class var name: String { "ProbeFirst" }
    override class var description: String { "Probe notified before its drivers (FIRST_* flags)" }
    override class var flags: DeviceFlags { [.firstSuspend, .firstPowerOff, .firstReset] }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, devices: [Probe.self, ProbeFirst.self])
}
