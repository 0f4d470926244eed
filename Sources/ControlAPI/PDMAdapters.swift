import PDM

extension DeviceInfo {
    /// The API view of one PDM device instance.
    public init(_ node: DeviceNode) {
        self.init(name: node.name, device: node.deviceName, instance: node.instance, order: node.order,
                  asyncPending: node.asyncPending, failedToQuiesce: node.failedToQuiesce,
                  luns: node.luns.map { lun in
                      LUNInfo(lun: lun.lun, drivers: lun.drivers.map { driver in
                          DriverInfo(name: driver.name, driver: driver.driverName, instance: driver.instance,
                                     asyncPending: driver.asyncPending, failedToQuiesce: driver.failedToQuiesce)
                      })
                  })
    }

    /// `GET /devices` source for a PDM: its instance tree right now (safe from any thread).
    public static func source(for pdm: PDMCore) -> @Sendable () -> [DeviceInfo] {
        { [weak pdm] in pdm?.instanceTree().map(DeviceInfo.init) ?? [] }
    }
}

extension ControlServer {
    /// Publishes a PDM walk progress line (who is still pending) on the event stream.
    public func publish(_ progress: WalkProgress) {
        publishWalkProgress(operation: progress.operation.rawValue, elapsedMilliseconds: progress.elapsedMilliseconds,
                            passes: progress.passes, pending: progress.pending)
    }

    /// Sends `pdm`'s walk progress lines to the event stream (sets `pdm.progressObserver`, calling any
    /// observer that was set before as well).
    public func follow(_ pdm: PDMCore) {
        let previous = pdm.progressObserver
        pdm.progressObserver = { [weak self] progress in
            previous?(progress)
            self?.publish(progress)
        }
    }
}
