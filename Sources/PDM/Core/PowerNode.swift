import CVMHostABI

/// What a walk needs from a device or a driver instance.
protocol PowerNode: AnyObject {
    var name: String { get }
    var power: PowerState { get }
    /// Calls the reset / suspend / powerOff callback (devices under their lock); false if there is none.
    func callQuiesce(_ operation: PowerOperation) -> Bool
    /// Calls the registered async poller (devices under their lock).
    func callPoller() -> Bool
    /// Calls powerOn / resume; VMH_OK when there is none.
    func callStart(_ operation: PowerOperation) -> Int32
}

extension DeviceInstance: PowerNode {
    func callQuiesce(_ operation: PowerOperation) -> Bool {
        let reg = registration.pointee
        let callback: (@convention(c) (UnsafeMutablePointer<VMHDevIns>?) -> Void)?
        switch operation {
        case .suspend: callback = reg.suspend
        case .powerOff: callback = reg.powerOff
        case .reset: callback = reg.reset
        case .powerOn, .resume: callback = nil
        }
        guard let callback else { return false }
        withLock { callback(devIns) }
        return true
    }

    func callPoller() -> Bool {
        guard let poller = power.devicePoller else { return true }
        return withLock { poller(devIns) }
    }

    func callStart(_ operation: PowerOperation) -> Int32 {
        let reg = registration.pointee
        let callback = operation == .powerOn ? reg.powerOn : operation == .resume ? reg.resume : nil
        guard let callback else { return VMH_OK }
        return withLock { callback(devIns) }
    }
}

extension DriverInstance: PowerNode {
    func callQuiesce(_ operation: PowerOperation) -> Bool {
        let reg = registration.pointee
        let callback: (@convention(c) (UnsafeMutablePointer<VMHDrvIns>?) -> Void)?
        switch operation {
        case .suspend: callback = reg.suspend
        case .powerOff: callback = reg.powerOff
        case .reset: callback = reg.reset
        case .powerOn, .resume: callback = nil
        }
        guard let callback else { return false }
        callback(drvIns)
        return true
    }

    func callPoller() -> Bool {
        guard let poller = power.driverPoller else { return true }
        return poller(drvIns)
    }

    func callStart(_ operation: PowerOperation) -> Int32 {
        let reg = registration.pointee
        let callback = operation == .powerOn ? reg.powerOn : operation == .resume ? reg.resume : nil
        guard let callback else { return VMH_OK }
        return callback(drvIns)
    }
}
