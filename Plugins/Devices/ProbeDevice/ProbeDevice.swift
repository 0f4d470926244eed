// Probe and ProbeFirst: devices that log every callback, for the PDM's walk tests (see DEVICE-SPECS.md).
//
// Settings: `luns` (attach LUNs 0..luns-1 in construct), `async-ms` (when > 0 the callbacks named by `async-on`
// go async and a worker thread completes them after that many ms), `async-on` ('|'-separated subset of
// suspend|powerOff|reset), `never-complete` (the async ones never complete; implies async even with async-ms 0),
// `fail-on` (construct|initComplete|powerOn|resume: that callback fails with VMH_ERR_GENERAL).
// Every callback logs one INFO line that is exactly its name; a completed async operation logs `<name>-done`.
import PluginSDK
import ProbeBehaviour

/// The Probe device.
class Probe: DevicePlugin {
    class var name: String { "Probe" }
    class var description: String { "Logs every PDM callback (walk tests)" }
    class var maxInstances: UInt32 { 64 }
    // Declared here (not left to the protocol default) so that ProbeFirst's override is the witness.
    class var flags: DeviceFlags { [] }

    let context: DeviceContext
    let settings: ProbeBehaviour

    required init(context: DeviceContext) throws {
        context.log("construct")
        self.context = context
        settings = try ProbeBehaviour(context.config, acceptsLUNs: true)
        for lun in 0..<settings.luns {
            try context.attachDriver(lun: lun)
        }
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
