/// `GET /devices`: every device instance in walk order with its LUN driver chains.
public struct DeviceTreeResponse: Codable, Sendable, Equatable {
    public var devices: [DeviceInfo]

    public init(devices: [DeviceInfo]) { self.devices = devices }
}

/// One device instance.
public struct DeviceInfo: Codable, Sendable, Equatable {
    /// Instance name `device/instance`.
    public var name: String
    /// The device type (plugin registration name).
    public var device: String
    public var instance: UInt32
    /// Position in the power walks.
    public var order: UInt32
    /// True while the instance went async in a power walk and has not completed yet.
    public var asyncPending: Bool
    /// A walk gave up on this instance at its deadline.
    public var failedToQuiesce: Bool
    public var luns: [LUNInfo]

    public init(name: String, device: String, instance: UInt32, order: UInt32, asyncPending: Bool,
                failedToQuiesce: Bool, luns: [LUNInfo]) {
        self.name = name
        self.device = device
        self.instance = instance
        self.order = order
        self.asyncPending = asyncPending
        self.failedToQuiesce = failedToQuiesce
        self.luns = luns
    }

    enum CodingKeys: String, CodingKey {
        case name, device, instance, order, luns
        case asyncPending = "async_pending"
        case failedToQuiesce = "failed_to_quiesce"
    }
}

/// One LUN of a device with its driver chain, top first.
public struct LUNInfo: Codable, Sendable, Equatable {
    public var lun: UInt32
    public var drivers: [DriverInfo]

    public init(lun: UInt32, drivers: [DriverInfo]) {
        self.lun = lun
        self.drivers = drivers
    }
}

/// One driver instance in a LUN chain.
public struct DriverInfo: Codable, Sendable, Equatable {
    /// Instance name `device/instance/lun/driver/instance`.
    public var name: String
    /// The driver type (plugin registration name).
    public var driver: String
    public var instance: UInt32
    public var asyncPending: Bool
    public var failedToQuiesce: Bool

    public init(name: String, driver: String, instance: UInt32, asyncPending: Bool, failedToQuiesce: Bool) {
        self.name = name
        self.driver = driver
        self.instance = instance
        self.asyncPending = asyncPending
        self.failedToQuiesce = failedToQuiesce
    }

    enum CodingKeys: String, CodingKey {
        case name, driver, instance
        case asyncPending = "async_pending"
        case failedToQuiesce = "failed_to_quiesce"
    }
}
