import CVMHostABI
import Logging

extension PDMCore {
    /// Constructs every configured device in instantiation order (ascending `order`: the configuration's
    /// `order:` or else the registration's; ties keep configuration order; instance numbers per device name follow
    /// configuration order), checks that every configured LUN chain was attached, then runs initComplete on all
    /// (per device: its LUN drivers top→bottom, then the device).
    ///
    /// On any failure everything already constructed is destructed bottom-up (a failing device's destruct is
    /// called too, as the ABI promises) and the PDM ends in `.destroyed`.
    public func construct(config: VMConfiguration, registry: PluginRegistry,
                          services: any VMMServices = NullVMMServices()) throws(PDMError) {
        guard state == .created else { throw .wrongState("construct: the PDM was already constructed") }
        self.registry = registry
        self.configuration = config

        // 1. Resolve every name and check instance limits before any plugin code runs.
        struct Planned {
            let index: Int
            let reg: UnsafePointer<VMHDeviceReg>
            let instance: UInt32
            let order: UInt32
        }
        var planned: [Planned] = []
        var perDevice: [String: UInt32] = [:]
        for (i, device) in config.devices.enumerated() {
            guard let reg = registry.deviceRegistration(named: device.name) else {
                setState(.destroyed)
                throw .configuration(ConfigurationError(keyPath: "devices[\(i)].name",
                                                        message: "no device named '\(device.name)' is registered"))
            }
            for (j, lun) in device.luns.enumerated() {
                var path = "devices[\(i)].luns[\(j)].driver"
                for driver in lun.driver.chainTopToBottom {
                    guard registry.driverRegistration(named: driver.name) != nil else {
                        setState(.destroyed)
                        throw .configuration(ConfigurationError(keyPath: "\(path).name",
                                                                message: "no driver named '\(driver.name)' is registered"))
                    }
                    path += ".below"
                }
            }
            let number = perDevice[device.name, default: 0]
            guard number < reg.pointee.maxInstances else {
                setState(.destroyed)
                throw .configuration(ConfigurationError(
                    keyPath: "devices[\(i)]",
                    message: "too many instances of device '\(device.name)' (it allows \(reg.pointee.maxInstances))"))
            }
            perDevice[device.name] = number + 1
            planned.append(Planned(index: i, reg: reg, instance: number, order: device.order ?? reg.pointee.order))
        }
        // Stable sort by order (ties keep configuration order).
        let ordered = planned.enumerated().sorted { a, b in
            a.element.order != b.element.order ? a.element.order < b.element.order : a.offset < b.offset
        }.map(\.element)

        // 2. Construct.
        for plan in ordered {
            let deviceConfig = config.devices[plan.index]
            let device = DeviceInstance(registration: plan.reg, deviceName: deviceConfig.name, instanceNumber: plan.instance,
                                        order: plan.order, config: deviceConfig, configPath: "devices[\(plan.index)]",
                                        services: services, core: self, logger: logger)
            devices.append(device)
            device.phase = .constructing
            let status = plan.reg.pointee.construct.map { $0(device.devIns) } ?? VMH_ERR_GENERAL
            device.phase = .constructed
            if status != VMH_OK {
                let details = device.settings.errors + device.driverFailures
                logger.error("\(device.configPath): device \(device.name) failed to construct with \(vmhStatusName(status))")
                destructAll()
                throw .constructionFailed(instance: device.name, configPath: device.configPath, status: status,
                                          details: details)
            }
            if let error = unattachedLUNError(device) {
                logger.error("\(error)")
                destructAll()
                throw error
            }
            logger.debug("constructed \(device.name) (order \(device.order))")
        }

        // 3. initComplete.
        for device in devices {
            for attachment in device.luns {
                for driver in attachment.drivers {
                    guard let initComplete = driver.registration.pointee.initComplete else { continue }
                    let status = initComplete(driver.drvIns)
                    if status != VMH_OK {
                        logger.error("\(driver.name): initComplete failed with \(vmhStatusName(status))")
                        destructAll()
                        throw .initCompleteFailed(instance: driver.name, status: status)
                    }
                }
            }
            if let initComplete = device.registration.pointee.initComplete {
                let status = device.withLock { initComplete(device.devIns) }
                if status != VMH_OK {
                    logger.error("\(device.name): initComplete failed with \(vmhStatusName(status))")
                    destructAll()
                    throw .initCompleteFailed(instance: device.name, status: status)
                }
            }
        }
        published.withLock { $0 = devices }
        setState(.constructed)
        logger.info("PDM constructed \(devices.count) device instance(s)")
    }

    /// Destructs everything: for each device in reverse instantiation order, its LUN drivers bottom→top, then the
    /// device. Idempotent.
    public func destroy() {
        guard state != .destroyed else { return }
        destructAll()
    }

    /// The configured LUN chain `device` left (partly) unattached, as an error; nil when all are attached.
    func unattachedLUNError(_ device: DeviceInstance) -> PDMError? {
        for (j, lun) in device.config.luns.enumerated() {
            let chain = lun.driver.chainTopToBottom
            let attached = device.attachment(lun.lun)?.drivers.count ?? 0
            if attached < chain.count {
                let path = "\(device.configPath).luns[\(j)].driver" + String(repeating: ".below", count: attached)
                return .lunNotAttached(instance: device.name, lun: lun.lun, configPath: path,
                                       details: device.driverFailures)
            }
        }
        return nil
    }

    func destructAll() {
        published.withLock { $0 = [] }
        for device in devices.reversed() {
            // Before its drivers go: no host timer callback reaches the device (or, through it, its drivers).
            device.markDestructed()
            for attachment in device.luns {
                for driver in attachment.drivers.reversed() {
                    destructDriver(driver)
                }
            }
            if device.phase != .destructed {
                device.phase = .destructed
                device.registration.pointee.destruct?(device.devIns)
            }
        }
        devices = []
        setState(.destroyed)
    }

    func destructDriver(_ driver: DriverInstance) {
        guard driver.phase != .destructed else { return }
        driver.phase = .destructed
        driver.registration.pointee.destruct?(driver.drvIns)
        driverLiveCount[driver.driverName, default: 1] -= 1
    }

    // MARK: - Attaching (device and driver helpers)

    /// `VMHDevHlp.driverAttach`: construct the chain configured below `lun` of `device`.
    func attachLUN(device: DeviceInstance, lun: UInt32) -> Int32 {
        guard device.phase == .constructing else { return VMH_ERR_WRONG_STATE }
        guard device.attachment(lun) == nil else { return VMH_ERR_ALREADY_EXISTS }
        guard let index = device.lunConfigIndex(lun) else { return VMH_ERR_NO_DRIVER_ATTACHED }
        let attachment = LUNAttachment(lun: lun)
        device.luns.append(attachment)
        let status = constructDriver(config: device.config.luns[index].driver,
                                     configPath: "\(device.configPath).luns[\(index)].driver",
                                     device: device, attachment: attachment, depth: 0, flags: 0)
        if status != VMH_OK {
            device.luns.removeAll { $0 === attachment }
        }
        return status
    }

    /// `VMHDrvHlp.attachBelow`: construct the driver configured below `driver`.
    func attachBelow(driver: DriverInstance, flags: UInt32) -> Int32 {
        guard driver.phase == .constructing else { return VMH_ERR_WRONG_STATE }
        guard driver.below == nil else { return VMH_ERR_ALREADY_EXISTS }
        guard let below = driver.config.below else { return VMH_ERR_NO_DRIVER_ATTACHED }
        return constructDriver(config: below, configPath: "\(driver.configPath).below", device: driver.device,
                               attachment: driver.attachment, depth: driver.depth + 1, flags: flags)
    }

    func constructDriver(config: DriverConfig, configPath: String, device: DeviceInstance, attachment: LUNAttachment,
                         depth: Int, flags: UInt32) -> Int32 {
        guard let reg = registry?.driverRegistration(named: config.name) else {
            let message = "\(configPath).name: no driver named '\(config.name)' is registered"
            device.driverFailures.append(message)
            logger.error("\(message)")
            return VMH_ERR_NOT_FOUND
        }
        let live = driverLiveCount[config.name, default: 0]
        guard live < reg.pointee.maxInstances else {
            let message = "\(configPath): too many instances of driver '\(config.name)' (it allows \(reg.pointee.maxInstances))"
            device.driverFailures.append(message)
            logger.error("\(message)")
            return VMH_ERR_TOO_MANY_INSTANCES
        }
        guard attachment.drivers.count == depth else { return VMH_ERR_WRONG_STATE }
        let number = driverNextNumber[config.name, default: 0]
        driverNextNumber[config.name] = number + 1
        driverLiveCount[config.name] = live + 1
        let driver = DriverInstance(registration: reg, driverName: config.name, instanceNumber: number, device: device,
                                    attachment: attachment, depth: depth, config: config, configPath: configPath,
                                    logger: logger)
        attachment.drivers.append(driver)
        driver.phase = .constructing
        let status = reg.pointee.construct.map { $0(driver.drvIns, flags) } ?? VMH_ERR_GENERAL
        driver.phase = .constructed
        if status != VMH_OK {
            // Destruct at once: whatever it attached below (bottom-up), then itself.
            for failed in attachment.drivers[depth...].reversed() {
                destructDriver(failed)
            }
            attachment.drivers.removeSubrange(depth...)
            var message = "driver \(driver.name) (\(configPath)) failed to construct with \(vmhStatusName(status))"
            if !driver.settings.errors.isEmpty { message += ": " + driver.settings.errors.joined(separator: "; ") }
            device.driverFailures.append(message)
            logger.error("\(message)")
        }
        return status
    }
}
