import CVMHostABI
import Glibc

/// The host's device helper table (one static table for every device instance). Each entry is a C thunk that
/// finds the `DeviceInstance` through `VMHDevIns.hostPrivate`; none captures anything.
nonisolated(unsafe) let deviceHelperTable: UnsafePointer<VMHDevHlp> = {
    var h = VMHDevHlp()
    h.version = HostABIVersions.devHlp
    h.versionEnd = HostABIVersions.devHlp
    h.log = { ins, level, message in
        guard let dev = deviceInstance(ins) else { return }
        dev.core?.pluginLog(instance: dev.name, level: level, message: message)
    }
    h.cfgValidate = { ins, keys in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.settings.validate(keys)
    }
    h.cfgQueryString = { ins, key, buf, size in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.settings.queryString(key, buf, size)
    }
    h.cfgQueryInteger = { ins, key, value in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.settings.queryInteger(key, value)
    }
    h.cfgQueryBool = { ins, key, value in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.settings.queryBool(key, value)
    }
    h.cfgError = { ins, key, message in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.settings.error(key, message)
    }
    h.driverAttach = { ins, lun in
        guard let dev = deviceInstance(ins), let core = dev.core else { return VMH_ERR_INVALID_PARAMETER }
        return core.attachLUN(device: dev, lun: lun)
    }
    h.queryLunInterface = { ins, lun, iid in
        guard let dev = deviceInstance(ins), let iid, let top = dev.topDriver(lun: lun),
              let query = top.registration.pointee.queryInterface else { return nil }
        return query(top.drvIns, iid)
    }
    h.setAsyncNotification = { ins, poller in
        guard let dev = deviceInstance(ins), let poller else { return VMH_ERR_INVALID_PARAMETER }
        guard dev.power.notifying != nil else { return VMH_ERR_WRONG_STATE }
        guard !dev.power.hasPoller else { return VMH_ERR_ALREADY_EXISTS }
        dev.power.devicePoller = poller
        return VMH_OK
    }
    h.asyncNotificationCompleted = { ins in
        guard let dev = deviceInstance(ins) else { return }
        dev.core?.asyncNotificationCompleted()
    }
    h.ioPortRegister = { ins, port, count, user, portIn, portOut, description in
        guard let dev = deviceInstance(ins), count > 0, Int(port) + Int(count) <= 0x10000 else { return VMH_ERR_INVALID_PARAMETER }
        guard dev.phase == .constructing else { return VMH_ERR_WRONG_STATE }
        return dev.services.registerPortIO(device: dev, port: port, count: count, user: user, in: portIn, out: portOut,
                                           description: description.map { String(cString: $0) } ?? dev.name)
    }
    h.mmioRegister = { ins, gpa, size, user, read, write, description in
        guard let dev = deviceInstance(ins), size > 0, gpa &+ size > gpa else { return VMH_ERR_INVALID_PARAMETER }
        guard dev.phase == .constructing else { return VMH_ERR_WRONG_STATE }
        return dev.services.registerMMIO(device: dev, gpa: gpa, size: size, user: user, read: read, write: write,
                                         description: description.map { String(cString: $0) } ?? dev.name)
    }
    h.physRead = { ins, gpa, buf, size in
        // size_t arrives as Int: a size of 2^63 or more is negative here and would trap in the buffer pointer.
        guard let dev = deviceInstance(ins), size >= 0, buf != nil || size == 0 else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.physRead(device: dev, gpa: gpa, into: UnsafeMutableRawBufferPointer(start: buf, count: size))
    }
    h.physWrite = { ins, gpa, buf, size in
        guard let dev = deviceInstance(ins), size >= 0, buf != nil || size == 0 else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.physWrite(device: dev, gpa: gpa, from: UnsafeRawBufferPointer(start: buf, count: size))
    }
    h.setIrq = { ins, irq, level in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.setIRQ(device: dev, irq: irq, level: level)
    }
    h.timerCreate = { ins, callback, user, description, timer in
        guard let dev = deviceInstance(ins), let callback, let timer else { return VMH_ERR_INVALID_PARAMETER }
        guard dev.phase == .constructing else { return VMH_ERR_WRONG_STATE }
        var handle: UInt64 = 0
        let status = dev.services.timerCreate(device: dev, callback: callback, user: user,
                                              description: description.map { String(cString: $0) } ?? dev.name,
                                              timer: &handle)
        if status == VMH_OK { timer.pointee = handle }
        return status
    }
    h.timerArm = { ins, timer, nanoseconds in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.timerArm(device: dev, timer: timer, nanoseconds: nanoseconds)
    }
    h.timerStop = { ins, timer in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.timerStop(device: dev, timer: timer)
    }
    h.clockNanoseconds = { _ in monotonicNanoseconds() }
    h.vmPowerOff = { ins, exitStatus in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.requestPowerOff(device: dev, exitStatus: exitStatus)
    }
    h.vmSuspend = { ins, reason in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        guard (1...4).contains(reason) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.requestSuspend(device: dev, reason: reason)
    }
    h.ioEventFdRegister = { ins, fd, space, address, length, flags, value in
        guard let dev = deviceInstance(ins), fd >= 0, space == VMH_IOEVENT_SPACE_PORT || space == VMH_IOEVENT_SPACE_MMIO,
              [1, 2, 4, 8].contains(length), flags & ~(VMH_IOEVENT_F_DATAMATCH | VMH_IOEVENT_F_DEASSIGN) == 0,
              address &+ UInt64(length) > address
        else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.registerIOEventFD(device: dev, fd: fd, space: space, address: address, length: length,
                                              flags: flags, value: value)
    }
    h.irqFdRegister = { ins, fd, irq, flags in
        guard let dev = deviceInstance(ins), fd >= 0, flags & ~VMH_IRQFD_F_DEASSIGN == 0 else {
            return VMH_ERR_INVALID_PARAMETER
        }
        return dev.services.registerIRQFD(device: dev, fd: fd, irq: irq, flags: flags)
    }
    h.kernelCmdlineAppend = { ins, word in
        guard let dev = deviceInstance(ins), let word else { return VMH_ERR_INVALID_PARAMETER }
        guard dev.phase == .constructing else { return VMH_ERR_WRONG_STATE }
        let text = String(cString: word)
        guard !text.isEmpty, text.utf8.count <= 255, !text.contains(where: { $0 == " " || $0.isNewline || $0 == "\t" })
        else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.appendKernelCommandLine(device: dev, word: text)
    }
    h.deviceClockNanoseconds = { ins, now in
        guard let dev = deviceInstance(ins), let now else { return VMH_ERR_INVALID_PARAMETER }
        var clock: UInt64 = 0
        let status = dev.services.deviceClockNanoseconds(device: dev, now: &clock)
        if status == VMH_OK { now.pointee = clock }
        return status
    }
    h.timerArmAt = { ins, timer, deadline in
        guard let dev = deviceInstance(ins) else { return VMH_ERR_INVALID_PARAMETER }
        return dev.services.timerArmAt(device: dev, timer: timer, deadline: deadline)
    }
    let table = UnsafeMutablePointer<VMHDevHlp>.allocate(capacity: 1)
    table.initialize(to: h)
    return UnsafePointer(table)
}()

/// The Swift instance behind a plugin's `VMHDevIns` pointer (nil for NULL or a foreign pointer without one).
@inline(__always)
func deviceInstance(_ ins: UnsafeMutablePointer<VMHDevIns>?) -> DeviceInstance? {
    guard let raw = ins?.pointee.hostPrivate else { return nil }
    return Unmanaged<DeviceInstance>.fromOpaque(raw).takeUnretainedValue()
}

/// CLOCK_MONOTONIC in nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
