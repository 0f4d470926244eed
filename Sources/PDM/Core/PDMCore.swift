import CVMHostABI
import Logging
import Synchronization

/// One line a plugin logged through `hlp->log`, as delivered to `PDMCore.pluginLogObserver`.
public struct PluginLogRecord: Sendable, Equatable {
    /// Instance name: `dev/inst` or `dev/inst/lun/drv/inst`.
    public var instance: String
    /// VMH_LOG_* level as the plugin passed it.
    public var level: Int32
    /// The message text.
    public var message: String

    public init(instance: String, level: Int32, message: String) {
        self.instance = instance
        self.level = level
        self.message = message
    }
}

/// A progress report of a walk waiting for asynchronous instances (also logged as
/// `suspend: after 1002 ms, 3 passes: 1 pending - virtio-blk/0/0/Block/0`).
public struct WalkProgress: Sendable, Equatable, CustomStringConvertible {
    /// The walk (suspend, reset or powerOff).
    public var operation: PowerOperation
    /// Time since the walk started.
    public var elapsedMilliseconds: Int64
    /// Passes over the instances so far (a pass follows every wake-up).
    public var passes: Int
    /// Instances still pending, in walk order.
    public var pending: [String]

    public var description: String {
        "\(operation.rawValue): after \(elapsedMilliseconds) ms, \(passes) passes: \(pending.count) pending - "
            + pending.joined(separator: ", ")
    }
}

/// Life cycle of a `PDMCore`.
public enum PDMState: Sendable, Equatable {
    /// Made, nothing constructed.
    case created
    /// Every device and driver is constructed and initComplete ran.
    case constructed
    /// Destroyed (or construction failed and everything was destructed).
    case destroyed
}

/// The Pluggable Device Manager of one VM: constructs the configured device instances with their LUN driver
/// chains, runs the power walks (power-on, suspend, resume, reset, power-off) with asynchronous notification, and
/// destroys everything. Knows nothing about KVM; VMM services come through `VMMServices`.
///
/// Threads: construct, the walks and destroy run on one thread (EMT 0 once the VMM runs); `instanceTree()` and the
/// observers may be used from any thread; plugins call `asyncNotificationCompleted` from any thread.
public final class PDMCore: @unchecked Sendable {
    /// Host-side log (construction, walk progress, errors).
    public let logger: Logger
    /// Where plugin `hlp->log` lines go (metadata `instance`). Its log level filters plugin lines cheaply.
    public let pluginLogger: Logger

    struct Observers {
        var pluginLog: (@Sendable (PluginLogRecord) -> Void)?
        var progress: (@Sendable (WalkProgress) -> Void)?
    }
    let observers = Mutex(Observers())

    struct WalkShared {
        var active = false
        var waiter: (any WalkWaiter)?
    }
    let walkShared = Mutex(WalkShared())
    let defaultWaiter = ConditionWalkWaiter()

    /// Devices in walk order (instantiation order). Touched by the owning thread only.
    var devices: [DeviceInstance] = []
    /// The tree published for `instanceTree()` once construction finished.
    let published = Mutex<[DeviceInstance]>([])
    var registry: PluginRegistry?
    var configuration = VMConfiguration()
    var driverLiveCount: [String: UInt32] = [:]
    var driverNextNumber: [String: UInt32] = [:]
    private let stateStorage = Mutex(PDMState.created)
    /// Where the PDM is in its life cycle (readable from any thread).
    public var state: PDMState { stateStorage.withLock { $0 } }
    var walkRunning = false

    /// Makes an empty PDM. Set the observers, then call `construct(config:registry:services:)`.
    public init(logger: Logger = Logger(label: "vmhost.pdm"), pluginLogger: Logger = Logger(label: "vmhost.plugin")) {
        self.logger = logger
        self.pluginLogger = pluginLogger
    }

    /// Called with every line a plugin logs (instance name, level, message), from the thread that logged it.
    public var pluginLogObserver: (@Sendable (PluginLogRecord) -> Void)? {
        get { observers.withLock { $0.pluginLog } }
        set { observers.withLock { $0.pluginLog = newValue } }
    }

    /// Called with every walk progress line (the same text the logger gets), on the walking thread.
    public var progressObserver: (@Sendable (WalkProgress) -> Void)? {
        get { observers.withLock { $0.progress } }
        set { observers.withLock { $0.progress = newValue } }
    }

    /// The configuration passed to `construct`.
    public var config: VMConfiguration { configuration }

    /// The device instances in walk order (empty before construct and after destroy).
    public var deviceInstances: [DeviceInstance] { published.withLock { $0 } }

    /// The device instance named `dev/inst`, if any.
    public func device(named name: String) -> DeviceInstance? {
        deviceInstances.first { $0.name == name }
    }

    func setState(_ newState: PDMState) {
        stateStorage.withLock { $0 = newState }
    }

    // MARK: - Plugin logging

    func pluginLog(instance: String, level: Int32, message: UnsafePointer<CChar>?) {
        let observer = observers.withLock { $0.pluginLog }
        let swiftLevel = Self.logLevel(level)
        guard observer != nil || swiftLevel >= pluginLogger.logLevel else { return }
        let text = message.map { String(cString: $0) } ?? ""
        if swiftLevel >= pluginLogger.logLevel {
            pluginLogger.log(level: swiftLevel, "\(text)", metadata: ["instance": .string(instance)])
        }
        observer?(PluginLogRecord(instance: instance, level: level, message: text))
    }

    static func logLevel(_ level: Int32) -> Logger.Level {
        switch level {
        case ...0: return .trace
        case 1: return .debug
        case 2: return .info
        case 3: return .notice
        case 4: return .warning
        default: return .error
        }
    }
}
