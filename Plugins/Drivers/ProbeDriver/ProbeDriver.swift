// The Probe driver: logs every PDM callback, for the PDM's walk tests (see DEVICE-SPECS.md).
//
// Settings as the Probe device without `luns`: `async-ms`, `async-on`, `never-complete`, `fail-on`. In construct it
// attaches the driver below if one is configured; it offers no interface of its own and passes queryInterface
// through to the driver below.
import PluginSDK
import ProbeBehaviour

/// The Probe driver.
final class ProbeDriver: DriverPlugin {
    static let name = "Probe"
    static let description = "Logs every PDM callback and passes interfaces through (walk tests)"
    static let maxInstances: UInt32 = 64

    private let context: DriverContext
    private let settings: ProbeBehaviour

    init(context: DriverContext, flags: UInt32) throws {
        context.log("construct")
        self.context = context
        settings = try ProbeBehaviour(context.config, acceptsLUNs: false)
        try context.attachBelow()
        try settings.failIfAsked("construct")
    }

    private func maybeAsync(_ operation: PowerOperation) -> PowerResult {
        settings.result(of: operation, completion: context.asyncCompletion, logError: { context.log(.error, $0) })
    }

    func initComplete() throws {
        context.log("initComplete")
        try settings.failIfAsked("initComplete")
    }

    func powerOn() throws {
        context.log("powerOn")
        try settings.failIfAsked("powerOn")
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
        try settings.failIfAsked("resume")
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
