import CVMHostABI
import Glibc
import Logging
import PDM
import Synchronization

/// A failed expectation of the harness's assert helpers; its description says what was expected and what
/// happened. Throw it from a test (`try harness.expectOrder(…)`) and the test fails with that message.
public struct HarnessExpectationFailure: Error, CustomStringConvertible, Sendable {
    /// What was expected and what the captured log or state showed instead.
    public let description: String
}

/// Runs plugins the way the host does, without a VM: loads `.so` files with the real `PluginRegistry` (or
/// registers in-process modules), builds a configuration in code, constructs it with the real `PDMCore` on top
/// of a `RecordingVMM`, calls every power walk, and captures what each instance logs.
///
///     let h = PluginTestHarness()
///     try h.loadProduct("ProbeDevice")
///     h.addDevice(DeviceConfig(name: "Probe", settings: ["luns": .integer(1)])
///         .lun(0, DriverConfig(name: "StubDriver")))
///     try h.registerStubs()
///     try h.construct()
///     try h.suspend()
///     try h.expectOrder(["Probe/0/0/StubDriver/0: suspend", "Probe/0: suspend"])
public final class PluginTestHarness: @unchecked Sendable {
    /// The registry plugins are loaded into.
    public let registry: PluginRegistry
    /// The fake VMM behind the device helpers.
    public let vmm: RecordingVMM
    /// The PDM under test.
    public let pdm: PDMCore
    /// The configuration `construct()` uses; edit it or use `addDevice`.
    public var configuration: VMConfiguration

    private final class Capture: Sendable {
        let log = Mutex<[PluginLogRecord]>([])
        let progress = Mutex<[WalkProgress]>([])
    }
    private let capture = Capture()

    /// A harness with an empty configuration. `asyncDeadlineMilliseconds` bounds every walk; `pluginLogLevel`
    /// filters what plugin lines also reach the process log (they are always captured).
    public init(vmm: RecordingVMM = RecordingVMM(), asyncDeadlineMilliseconds: Int64 = 30_000,
                pluginLogLevel: Logger.Level = .critical) {
        self.vmm = vmm
        registry = PluginRegistry()
        var pluginLogger = Logger(label: "vmhost.plugin")
        pluginLogger.logLevel = pluginLogLevel
        var logger = Logger(label: "vmhost.pdm")
        logger.logLevel = .critical
        pdm = PDMCore(logger: logger, pluginLogger: pluginLogger)
        configuration = VMConfiguration(pdm: PDMSettings(asyncDeadlineMilliseconds: asyncDeadlineMilliseconds))
        let capture = self.capture
        pdm.pluginLogObserver = { record in capture.log.withLock { $0.append(record) } }
        pdm.progressObserver = { line in capture.progress.withLock { $0.append(line) } }
    }

    deinit {
        pdm.destroy()
    }

    /// The folder holding the build products (`lib<Name>.so`): the directory of the running executable.
    public static var productsDirectory: String { ExecutableLocation.directory ?? "." }

    /// Loads the plugin shared object at `path` into the registry.
    @discardableResult
    public func loadPlugin(path: String) throws -> PluginModule {
        try registry.load(path: path)
    }

    /// Loads `lib<product>.so` from `productsDirectory` (e.g. `loadProduct("ProbeDevice")`).
    @discardableResult
    public func loadProduct(_ product: String) throws -> PluginModule {
        try loadPlugin(path: "\(Self.productsDirectory)/lib\(product).so")
    }

    /// Registers an in-process module (stub drivers or devices written in the test itself).
    @discardableResult
    public func registerStatic(moduleName: String, entry: VMHPluginEntry) throws -> PluginModule {
        try registry.registerStatic(moduleName: moduleName, entry: entry)
    }

    /// Registers the test kit's `Stub`, `StubFirst` and `StubDriver` (see `StubPlugins`).
    public func registerStubs() throws {
        try StubPlugins.register(in: registry)
    }

    /// Appends a device instance to the configuration.
    public func addDevice(_ device: DeviceConfig) {
        configuration.devices.append(device)
    }

    // MARK: - Life cycle

    /// Constructs the configuration (devices, LUN chains, initComplete).
    public func construct() throws(PDMError) {
        try pdm.construct(config: configuration, registry: registry, services: vmm)
    }

    /// Power-on walk.
    public func powerOn() throws(PDMError) { try pdm.powerOn() }
    /// Suspend walk (waits for async instances up to the deadline).
    public func suspend() throws(PDMError) { try pdm.suspend() }
    /// Resume walk.
    public func resume() throws(PDMError) { try pdm.resume() }
    /// Reset walk.
    public func reset() throws(PDMError) { try pdm.reset() }
    /// Power-off walk.
    public func powerOff() throws(PDMError) { try pdm.powerOff() }
    /// Destructs everything.
    public func destroy() { pdm.destroy() }

    // MARK: - Captured log

    /// Every plugin log line so far, in order.
    public var logRecords: [PluginLogRecord] { capture.log.withLock { $0 } }

    /// The captured lines as `"<instance>: <message>"`, in order.
    public var callLog: [String] { logRecords.map { "\($0.instance): \($0.message)" } }

    /// The messages `instance` logged, in order.
    public func messages(of instance: String) -> [String] {
        logRecords.filter { $0.instance == instance }.map(\.message)
    }

    /// The instances that logged exactly `message`, in order (e.g. `instances(logging: "suspend")`).
    public func instances(logging message: String) -> [String] {
        logRecords.filter { $0.message == message }.map(\.instance)
    }

    /// Forgets the captured log and progress lines.
    public func clearLog() {
        capture.log.withLock { $0.removeAll() }
        capture.progress.withLock { $0.removeAll() }
    }

    /// Walk progress reports so far.
    public var progressReports: [WalkProgress] { capture.progress.withLock { $0 } }

    // MARK: - Assertions

    /// Throws unless the `"<instance>: <message>"` lines in `expected` all occur in the captured log, in this
    /// order (other lines may come between).
    public func expectOrder(_ expected: [String]) throws(HarnessExpectationFailure) {
        let log = callLog
        var position = 0
        for line in expected {
            guard let found = log[position...].firstIndex(of: line) else {
                let seen = log.contains(line) ? "it occurs, but too early" : "it never occurs"
                throw HarnessExpectationFailure(description: "expected '\(line)' after position \(position) (\(seen)); log: \(log)")
            }
            position = found + 1
        }
    }

    /// Throws unless `instance` logged `message` exactly `count` times.
    public func expectCount(_ instance: String, _ message: String, _ count: Int) throws(HarnessExpectationFailure) {
        let n = messages(of: instance).filter { $0 == message }.count
        guard n == count else {
            throw HarnessExpectationFailure(description: "expected \(instance) to log '\(message)' \(count)×, got \(n)×")
        }
    }

    /// Throws if `instance` logged `message`.
    public func expectNever(_ instance: String, _ message: String) throws(HarnessExpectationFailure) {
        guard !messages(of: instance).contains(message) else {
            throw HarnessExpectationFailure(description: "expected \(instance) never to log '\(message)'")
        }
    }

    /// Throws unless `line` (`"<instance>: <message>"`) comes before `later` in the captured log.
    public func expectBefore(_ line: String, _ later: String) throws(HarnessExpectationFailure) {
        let log = callLog
        guard let a = log.firstIndex(of: line), let b = log.firstIndex(of: later), a < b else {
            throw HarnessExpectationFailure(description: "expected '\(line)' before '\(later)'; log: \(log)")
        }
    }

    /// Instances flagged async-pending or failed-to-quiesce in the PDM's instance tree.
    public func asyncState() -> (pending: [String], failedToQuiesce: [String]) {
        var pending: [String] = []
        var failed: [String] = []
        for device in pdm.instanceTree() {
            if device.asyncPending { pending.append(device.name) }
            if device.failedToQuiesce { failed.append(device.name) }
            for lun in device.luns {
                for driver in lun.drivers {
                    if driver.asyncPending { pending.append(driver.name) }
                    if driver.failedToQuiesce { failed.append(driver.name) }
                }
            }
        }
        return (pending, failed)
    }

    // MARK: - I/O

    /// Guest port read through the registered handler.
    public func portIn(_ port: UInt16, size: UInt32 = 1) -> (status: Int32, value: UInt32) { vmm.portIn(port, size: size) }
    /// Guest port write through the registered handler.
    @discardableResult
    public func portOut(_ port: UInt16, size: UInt32 = 1, value: UInt32) -> Int32 { vmm.portOut(port, size: size, value: value) }
    /// Guest MMIO read through the registered handler.
    public func mmioRead(_ gpa: UInt64, size: UInt32 = 4) -> (status: Int32, value: UInt64) { vmm.mmioRead(gpa, size: size) }
    /// Guest MMIO write through the registered handler.
    @discardableResult
    public func mmioWrite(_ gpa: UInt64, size: UInt32 = 4, value: UInt64) -> Int32 { vmm.mmioWrite(gpa, size: size, value: value) }
}
