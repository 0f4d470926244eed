/// A device instance as `GET /devices` shows it.
public struct DeviceNode: Sendable, Equatable {
    /// `dev/inst`.
    public var name: String
    public var deviceName: String
    public var instance: UInt32
    public var order: UInt32
    public var luns: [LUNNode]
    /// The device went async in the running walk and has not finished yet.
    public var asyncPending: Bool
    /// A walk gave up on this device at its deadline.
    public var failedToQuiesce: Bool
}

/// One LUN with its driver chain, top first.
public struct LUNNode: Sendable, Equatable {
    public var lun: UInt32
    public var drivers: [DriverNode]
}

/// A driver instance in a LUN chain.
public struct DriverNode: Sendable, Equatable {
    /// `dev/inst/lun/drv/inst`.
    public var name: String
    public var driverName: String
    public var instance: UInt32
    public var asyncPending: Bool
    public var failedToQuiesce: Bool
}

extension PDMCore {
    /// The instance tree in walk order: devices, their LUN chains, driver names and the async flags. Safe from
    /// any thread (empty before construct finished and after destroy).
    public func instanceTree() -> [DeviceNode] {
        deviceInstances.map { device in
            DeviceNode(
                name: device.name, deviceName: device.deviceName, instance: device.instanceNumber, order: device.order,
                luns: device.luns.map { attachment in
                    LUNNode(lun: attachment.lun, drivers: attachment.drivers.map { driver in
                        DriverNode(name: driver.name, driverName: driver.driverName, instance: driver.instanceNumber,
                                   asyncPending: driver.power.asyncPending.load(ordering: .relaxed),
                                   failedToQuiesce: driver.power.failedToQuiesce.load(ordering: .relaxed))
                    })
                },
                asyncPending: device.power.asyncPending.load(ordering: .relaxed),
                failedToQuiesce: device.power.failedToQuiesce.load(ordering: .relaxed))
        }
    }
}
