// The C callbacks of every SDK driver registration (see DeviceCallbacks.swift).

@inline(__always)
func driverContext(_ ins: UnsafeMutablePointer<VMHDrvIns>?) -> DriverContext? {
    guard let data = ins?.pointee.data, let raw = data.load(as: UnsafeRawPointer?.self) else { return nil }
    return Unmanaged<DriverContext>.fromOpaque(raw).takeUnretainedValue()
}

func driverConstruct(_ ins: UnsafeMutablePointer<VMHDrvIns>?, _ flags: UInt32) -> Int32 {
    guard let ins else { return VMH_ERR_INVALID_PARAMETER }
    // VMH_DRVINS_CHECK_VERSIONS_RETURN semantics.
    guard ABIVersion.satisfies(have: ins.pointee.version, built: ABIVersion.driverInstance),
          let helpers = ins.pointee.hlp,
          ABIVersion.satisfies(have: helpers.pointee.version, built: ABIVersion.driverHelpers)
    else { return VMH_ERR_VERSION_MISMATCH }
    let instance = InstanceRef.driver(ins)
    guard let data = ins.pointee.data else {
        instance.log(.error, "construct failed: the host gave no instance data")
        return VMH_ERR_GENERAL
    }
    guard let type = RegistrationTable.shared.driverType(for: ins.pointee.reg) else {
        instance.log(.error, "construct failed: this module did not register the instance's driver type")
        return VMH_ERR_NOT_FOUND
    }
    let context = DriverContext(instance: ins, helpers: helpers)
    data.storeBytes(of: Unmanaged.passRetained(context).toOpaque(), as: UnsafeMutableRawPointer?.self)
    do {
        context.plugin = try type.init(context: context, flags: flags)
        return VMH_OK
    } catch {
        return reportFailure(error, callback: "construct", instance: instance)
    }
}

func driverDestruct(_ ins: UnsafeMutablePointer<VMHDrvIns>?) {
    guard let ins, let data = ins.pointee.data, let raw = data.load(as: UnsafeRawPointer?.self) else { return }
    let context = Unmanaged<DriverContext>.fromOpaque(raw)
    context.takeUnretainedValue().plugin?.destruct()
    context.takeUnretainedValue().tearDown()
    data.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
    context.release()
}

func driverInitComplete(_ ins: UnsafeMutablePointer<VMHDrvIns>?) -> Int32 {
    guard let context = driverContext(ins), let plugin = context.plugin else { return VMH_OK }
    do { try plugin.initComplete(); return VMH_OK } catch {
        return reportFailure(error, callback: "initComplete", instance: context.ref)
    }
}

func driverPowerOn(_ ins: UnsafeMutablePointer<VMHDrvIns>?) -> Int32 {
    guard let context = driverContext(ins), let plugin = context.plugin else { return VMH_OK }
    do { try plugin.powerOn(); return VMH_OK } catch {
        return reportFailure(error, callback: "powerOn", instance: context.ref)
    }
}

func driverResume(_ ins: UnsafeMutablePointer<VMHDrvIns>?) -> Int32 {
    guard let context = driverContext(ins), let plugin = context.plugin else { return VMH_OK }
    do { try plugin.resume(); return VMH_OK } catch {
        return reportFailure(error, callback: "resume", instance: context.ref)
    }
}

func driverAsyncCapable(_ ins: UnsafeMutablePointer<VMHDrvIns>?, _ operation: PowerOperation) {
    guard let ins, let context = driverContext(ins), let plugin = context.plugin else { return }
    context.asyncState.begin()
    let result: PowerResult
    switch operation {
    case .reset: result = plugin.reset()
    case .suspend: result = plugin.suspend()
    case .powerOff: result = plugin.powerOff()
    }
    guard result == .pending else { return }
    context.asyncState.setPending(operation)
    let status = context.helpers.pointee.setAsyncNotification?(ins, driverPollAsync) ?? VMH_ERR_NOT_SUPPORTED
    if status != VMH_OK {
        context.log(.warning, "\(operation.rawValue) went async but the host refused to wait "
                    + "(\(PluginStatus(rawValue: status)))")
    }
}

func driverReset(_ ins: UnsafeMutablePointer<VMHDrvIns>?) { driverAsyncCapable(ins, .reset) }
func driverSuspend(_ ins: UnsafeMutablePointer<VMHDrvIns>?) { driverAsyncCapable(ins, .suspend) }
func driverPowerOff(_ ins: UnsafeMutablePointer<VMHDrvIns>?) { driverAsyncCapable(ins, .powerOff) }

func driverPollAsync(_ ins: UnsafeMutablePointer<VMHDrvIns>?) -> Bool {
    guard let context = driverContext(ins) else { return true }
    let (done, finished) = context.asyncState.poll()
    if done, let finished { context.plugin?.asyncOperationFinished(finished) }
    return done
}

func driverAttach(_ ins: UnsafeMutablePointer<VMHDrvIns>?, _ flags: UInt32) -> Int32 {
    guard let context = driverContext(ins), let plugin = context.plugin else { return VMH_ERR_WRONG_STATE }
    do { try plugin.attach(flags: flags); return VMH_OK } catch {
        return reportFailure(error, callback: "attach", instance: context.ref)
    }
}

func driverDetach(_ ins: UnsafeMutablePointer<VMHDrvIns>?, _ flags: UInt32) {
    driverContext(ins)?.plugin?.detach(flags: flags)
}

func driverQueryInterface(_ ins: UnsafeMutablePointer<VMHDrvIns>?,
                          _ iid: UnsafePointer<CChar>?) -> UnsafeMutableRawPointer? {
    guard let iid, let context = driverContext(ins) else { return nil }
    let id = InterfaceID(cString: iid)
    if let plugin = context.plugin, let answer = plugin.queryInterface(iid: id) { return answer }
    return context.offeredInterface(iid: id)
}
