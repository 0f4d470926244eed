import CVMHostABI
import Glibc
import Logging
import Synchronization

/// One constructed device: owns its `VMHDevIns`, the zeroed 64-byte-aligned instance data, the C name
/// `"<device>/<instance>"`, its LUN driver chains and its per-instance lock. Addresses are stable from construct
/// until the PDM is destroyed.
///
/// The VMM's I/O dispatch calls a registered handler as
/// `device.withLock { handler(device.devIns, user, port, size, &value) }`: no allocation, and no lock at all for
/// devices registered with VMH_DEVREG_F_THREAD_SAFE.
public final class DeviceInstance: @unchecked Sendable {
    /// The C instance handed to the plugin.
    public let devIns: UnsafeMutablePointer<VMHDevIns>
    /// The registration this instance was made from.
    public let registration: UnsafePointer<VMHDeviceReg>
    /// `"<device>/<instance>"`, e.g. `Serial16550/0`.
    public let name: String
    /// The device's registration name.
    public let deviceName: String
    /// Instance number among the instances of this device name (configuration order, from 0).
    public let instanceNumber: UInt32
    /// Effective instantiation order (configuration `order:` or the registration's).
    public let order: UInt32
    /// Key path of this instance in the configuration, e.g. `devices[2]`.
    public let configPath: String
    /// The instance's configuration.
    public let config: DeviceConfig
    /// True when the registration sets VMH_DEVREG_F_THREAD_SAFE (the host takes no lock).
    public let isThreadSafe: Bool
    /// Registration flags (VMH_DEVREG_F_*).
    public let flags: UInt32

    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let destructedFlag = Atomic<Bool>(false)
    private let cName: UnsafeMutablePointer<CChar>
    private let data: UnsafeMutableRawPointer?

    let services: any VMMServices
    let settings: InstanceSettings
    let power = PowerState()
    weak var core: PDMCore?
    /// LUN chains in order of first attach.
    var luns: [LUNAttachment] = []
    var phase: InstancePhase = .created
    /// Failures of drivers constructed below this device, for the VM-creation error.
    var driverFailures: [String] = []

    init(registration: UnsafePointer<VMHDeviceReg>, deviceName: String, instanceNumber: UInt32, order: UInt32,
         config: DeviceConfig, configPath: String, services: any VMMServices, core: PDMCore, logger: Logger) {
        self.registration = registration
        self.deviceName = deviceName
        self.instanceNumber = instanceNumber
        self.order = order
        self.config = config
        self.configPath = configPath
        self.services = services
        self.core = core
        self.flags = registration.pointee.flags
        self.isThreadSafe = registration.pointee.flags & UInt32(VMH_DEVREG_F_THREAD_SAFE) != 0
        self.name = "\(deviceName)/\(instanceNumber)"
        self.settings = InstanceSettings(settings: config.settings, path: "\(configPath).settings", logger: logger)
        self.cName = makeCString(name)
        self.data = allocateInstanceData(Int(registration.pointee.instanceSize))
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        devIns = .allocate(capacity: 1)
        devIns.initialize(to: VMHDevIns())
        devIns.pointee.version = HostABIVersions.devIns
        devIns.pointee.instance = instanceNumber
        devIns.pointee.hlp = deviceHelperTable
        devIns.pointee.reg = registration
        devIns.pointee.data = data
        devIns.pointee.name = UnsafePointer(cName)
        devIns.pointee.hostPrivate = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        devIns.pointee.hostPrivate = nil
        devIns.deinitialize(count: 1)
        devIns.deallocate()
        cName.deallocate()
        free(data)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the device's lock held (no lock for VMH_DEVREG_F_THREAD_SAFE devices). Use it around every
    /// call into the device's I/O and timer handlers.
    @inlinable
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        if isThreadSafe { return try body() }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// True once the PDM is about to call (or called) the plugin's destruct. Set under the instance lock, so a
    /// host thread that checks it inside `withLock` (the device timer thread) never calls into a destructed
    /// instance. (THREAD_SAFE devices have no host lock: for them the check narrows the window only.)
    public var isDestructed: Bool { destructedFlag.load(ordering: .acquiring) }

    func markDestructed() {
        withLock { destructedFlag.store(true, ordering: .releasing) }
    }

    /// The top driver instance of `lun`, if a chain is attached.
    public func topDriver(lun: UInt32) -> DriverInstance? {
        luns.first { $0.lun == lun }?.drivers.first
    }

    func attachment(_ lun: UInt32) -> LUNAttachment? {
        luns.first { $0.lun == lun }
    }

    /// Index of `lun` in `config.luns` (for key paths), if configured.
    func lunConfigIndex(_ lun: UInt32) -> Int? {
        config.luns.firstIndex { $0.lun == lun }
    }
}

/// Where an instance is in its life.
enum InstancePhase {
    case created, constructing, constructed, destructed
}

/// One LUN of a device with its driver chain, top (attached to the device) first.
final class LUNAttachment {
    let lun: UInt32
    var drivers: [DriverInstance] = []

    init(lun: UInt32) {
        self.lun = lun
    }
}

/// Zeroed, 64-byte-aligned instance data; nil for size 0 or when out of memory.
func allocateInstanceData(_ size: Int) -> UnsafeMutableRawPointer? {
    guard size > 0 else { return nil }
    var pointer: UnsafeMutableRawPointer?
    let rounded = (size + 63) & ~63
    guard posix_memalign(&pointer, 64, rounded) == 0, let pointer else { return nil }
    memset(pointer, 0, rounded)
    return pointer
}

/// A malloc'ed NUL-terminated copy of `text` (free with `free`).
func makeCString(_ text: String) -> UnsafeMutablePointer<CChar> {
    let utf8 = Array(text.utf8)
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
    for (i, byte) in utf8.enumerated() { buffer[i] = CChar(bitPattern: byte) }
    buffer[utf8.count] = 0
    return buffer
}
