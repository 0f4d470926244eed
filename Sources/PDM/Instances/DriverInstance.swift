import CVMHostABI
import Glibc
import Logging

/// One constructed driver in a LUN chain: owns its `VMHDrvIns`, zeroed 64-byte-aligned instance data and the C name
/// `"<device>/<inst>/<lun>/<driver>/<inst>"`.
public final class DriverInstance: @unchecked Sendable {
    /// The C instance handed to the plugin.
    public let drvIns: UnsafeMutablePointer<VMHDrvIns>
    /// The registration this instance was made from.
    public let registration: UnsafePointer<VMHDriverReg>
    /// `"<device>/<inst>/<lun>/<driver>/<inst>"`, e.g. `Serial16550/0/0/Stdio/0`.
    public let name: String
    /// The driver's registration name.
    public let driverName: String
    /// Instance number among the instances of this driver in the VM.
    public let instanceNumber: UInt32
    /// LUN number of the chain this driver is in.
    public let lun: UInt32
    /// Key path of this driver in the configuration, e.g. `devices[1].luns[0].driver.below`.
    public let configPath: String
    /// The driver's configuration (its `below` is the next driver down).
    public let config: DriverConfig
    /// Position in the chain: 0 for the top driver.
    public let depth: Int

    private let cName: UnsafeMutablePointer<CChar>
    private let data: UnsafeMutableRawPointer?

    unowned let device: DeviceInstance
    unowned let attachment: LUNAttachment
    let settings: InstanceSettings
    let power = PowerState()
    var phase: InstancePhase = .created

    init(registration: UnsafePointer<VMHDriverReg>, driverName: String, instanceNumber: UInt32,
         device: DeviceInstance, attachment: LUNAttachment, depth: Int, config: DriverConfig, configPath: String,
         logger: Logger) {
        self.registration = registration
        self.driverName = driverName
        self.instanceNumber = instanceNumber
        self.device = device
        self.attachment = attachment
        self.lun = attachment.lun
        self.depth = depth
        self.config = config
        self.configPath = configPath
        self.name = "\(device.name)/\(attachment.lun)/\(driverName)/\(instanceNumber)"
        self.settings = InstanceSettings(settings: config.settings, path: "\(configPath).settings", logger: logger)
        self.cName = makeCString(name)
        self.data = allocateInstanceData(Int(registration.pointee.instanceSize))
        drvIns = .allocate(capacity: 1)
        drvIns.initialize(to: VMHDrvIns())
        drvIns.pointee.version = HostABIVersions.drvIns
        drvIns.pointee.instance = instanceNumber
        drvIns.pointee.hlp = driverHelperTable
        drvIns.pointee.reg = registration
        drvIns.pointee.data = data
        drvIns.pointee.name = UnsafePointer(cName)
        drvIns.pointee.hostPrivate = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        drvIns.pointee.hostPrivate = nil
        drvIns.deinitialize(count: 1)
        drvIns.deallocate()
        cName.deallocate()
        free(data)
    }

    /// The driver above this one in the chain (nil for the top driver).
    var above: DriverInstance? {
        depth > 0 && depth - 1 < attachment.drivers.count ? attachment.drivers[depth - 1] : nil
    }

    /// The driver below this one in the chain, if attached.
    var below: DriverInstance? {
        depth + 1 < attachment.drivers.count ? attachment.drivers[depth + 1] : nil
    }
}
