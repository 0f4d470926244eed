/// A device instance as `GET /devices` shows it.
public struct DeviceNode: Sendable, Equatable {
    /// `dev/inst`.
    public var name: String
    /// Registration name of the device.
    public var deviceName: String
    /// Instance number.
    public var instance: UInt32
    /// Effective instantiation order.
    public var order: UInt32
    /// LUN chains in order of first attach.
    public var luns: [LUNNode]
    /// The device went async in the running walk and has not finished yet.
    public var asyncPending: Bool
    /// A walk gave up on this device at its deadline.
    public var failedToQuiesce: Bool
}

/// One LUN with its driver chain, top first.
public struct LUNNode: Sendable, Equatable {
    /// LUN number.
    public var lun: UInt32
    /// Driver chain, top (attached to the device) first.
    public var drivers: [DriverNode]
}

/// A driver instance in a LUN chain.
public struct DriverNode: Sendable, Equatable {
    /// `dev/inst/lun/drv/inst`.
    public var name: String
    /// Registration name of the driver.
    public var driverName: String
    /// Instance number.
    public var instance: UInt32
    /// Went async in the running walk and has not finished yet.
    public var asyncPending: Bool
    /// A walk gave up on this driver at its deadline.
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
