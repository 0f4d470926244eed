import CVMHostABI

/// The host's driver helper table (one static table for every driver instance); thunks find the
/// `DriverInstance` through `VMHDrvIns.hostPrivate`.
nonisolated(unsafe) let driverHelperTable: UnsafePointer<VMHDrvHlp> = {
    var h = VMHDrvHlp()
    h.version = HostABIVersions.drvHlp
    h.versionEnd = HostABIVersions.drvHlp
    h.log = { ins, level, message in
        guard let drv = driverInstance(ins) else { return }
        drv.device.core?.pluginLog(instance: drv.name, level: level, message: message)
    }
    h.cfgValidate = { ins, keys in
        guard let drv = driverInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return drv.settings.validate(keys)
    }
    h.cfgQueryString = { ins, key, buf, size in
        guard let drv = driverInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return drv.settings.queryString(key, buf, size)
    }
    h.cfgQueryInteger = { ins, key, value in
        guard let drv = driverInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return drv.settings.queryInteger(key, value)
    }
    h.cfgQueryBool = { ins, key, value in
        guard let drv = driverInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return drv.settings.queryBool(key, value)
    }
    h.cfgError = { ins, key, message in
        guard let drv = driverInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return drv.settings.error(key, message)
    }
    h.attachBelow = { ins, flags in
        guard let drv = driverInstance(ins), let core = drv.device.core else { return VMH_ERR_INVALID_PARAMETER }
        return core.attachBelow(driver: drv, flags: flags)
    }
    h.queryBelow = { ins, iid in
        guard let drv = driverInstance(ins), let iid, let below = drv.below,
              let query = below.registration.pointee.queryInterface else { return nil }
        return query(below.drvIns, iid)
    }
    h.queryAbove = { ins, iid in
        guard let drv = driverInstance(ins), let iid else { return nil }
        if let above = drv.above {
            guard let query = above.registration.pointee.queryInterface else { return nil }
            return query(above.drvIns, iid)
        }
        guard let query = drv.device.registration.pointee.queryInterface else { return nil }
        return query(drv.device.devIns, drv.lun, iid)
    }
    h.setAsyncNotification = { ins, poller in
        guard let drv = driverInstance(ins), let poller else { return VMH_ERR_INVALID_PARAMETER }
        guard drv.power.notifying != nil else { return VMH_ERR_WRONG_STATE }
        guard !drv.power.hasPoller else { return VMH_ERR_ALREADY_EXISTS }
        drv.power.driverPoller = poller
        return VMH_OK
    }
    h.asyncNotificationCompleted = { ins in
        guard let drv = driverInstance(ins) else { return }
        drv.device.core?.asyncNotificationCompleted()
    }
    h.clockNanoseconds = { _ in monotonicNanoseconds() }
    let table = UnsafeMutablePointer<VMHDrvHlp>.allocate(capacity: 1)
    table.initialize(to: h)
    return UnsafePointer(table)
}()

/// The Swift instance behind a plugin's `VMHDrvIns` pointer.
@inline(__always)
func driverInstance(_ ins: UnsafeMutablePointer<VMHDrvIns>?) -> DriverInstance? {
    guard let raw = ins?.pointee.hostPrivate else { return nil }
    return Unmanaged<DriverInstance>.fromOpaque(raw).takeUnretainedValue()
}
