// The C callbacks of every SDK device registration. Each recovers the instance's DeviceContext from
// `ins->data` (an Unmanaged pointer stored at construct) and forwards to the plugin object.

/// The context stored in `ins->data`, or nil (construct not reached, or already destructed).
@inline(__always)
func deviceContext(_ ins: UnsafeMutablePointer<VMHDevIns>?) -> DeviceContext? {
    guard let data = ins?.pointee.data, let raw = data.load(as: UnsafeRawPointer?.self) else { return nil }
    return Unmanaged<DeviceContext>.fromOpaque(raw).takeUnretainedValue()
}

/// Logs `error` for `callback` and returns its status (reporting invalid values to the host's config error).
func reportFailure(_ error: any Error, callback: String, instance: InstanceRef) -> Int32 {
    if case .invalidValue(let key, let message) = error as? ConfigError {
        instance.cfgError(key: key, message: message)
    }
    let status = pluginStatus(of: error)
    instance.log(.error, "\(callback) failed: \(error)" + (error is PluginError ? "" : " (\(status))"))
    return status.rawValue
}

func deviceConstruct(_ ins: UnsafeMutablePointer<VMHDevIns>?) -> Int32 {
    guard let ins else { return VMH_ERR_INVALID_PARAMETER }
    // VMH_DEVINS_CHECK_VERSIONS_RETURN semantics.
    guard ABIVersion.satisfies(have: ins.pointee.version, built: ABIVersion.deviceInstance),
          let helpers = ins.pointee.hlp,
          ABIVersion.satisfies(have: helpers.pointee.version, built: ABIVersion.deviceHelpers)
    else { return VMH_ERR_VERSION_MISMATCH }
    let instance = InstanceRef.device(ins)
    guard let data = ins.pointee.data else {
        instance.log(.error, "construct failed: the host gave no instance data")
        return VMH_ERR_GENERAL
    }
    guard let type = RegistrationTable.shared.deviceType(for: ins.pointee.reg) else {
        instance.log(.error, "construct failed: this module did not register the instance's device type")
        return VMH_ERR_NOT_FOUND
    }
    let context = DeviceContext(instance: ins, helpers: helpers)
    data.storeBytes(of: Unmanaged.passRetained(context).toOpaque(), as: UnsafeMutableRawPointer?.self)
    do {
        context.plugin = try type.init(context: context)
        return VMH_OK
    } catch {
        return reportFailure(error, callback: "construct", instance: instance)
    }
}

func deviceDestruct(_ ins: UnsafeMutablePointer<VMHDevIns>?) {
    guard let ins, let data = ins.pointee.data, let raw = data.load(as: UnsafeRawPointer?.self) else { return }
    let context = Unmanaged<DeviceContext>.fromOpaque(raw)
    context.takeUnretainedValue().plugin?.destruct()
    context.takeUnretainedValue().tearDown()
    data.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
    context.release()
}

func deviceInitComplete(_ ins: UnsafeMutablePointer<VMHDevIns>?) -> Int32 {
    guard let context = deviceContext(ins), let plugin = context.plugin else { return VMH_OK }
    do { try plugin.initComplete(); return VMH_OK } catch {
        return reportFailure(error, callback: "initComplete", instance: context.ref)
    }
}

func devicePowerOn(_ ins: UnsafeMutablePointer<VMHDevIns>?) -> Int32 {
    guard let context = deviceContext(ins), let plugin = context.plugin else { return VMH_OK }
    do { try plugin.powerOn(); return VMH_OK } catch {
        return reportFailure(error, callback: "powerOn", instance: context.ref)
    }
}

func deviceResume(_ ins: UnsafeMutablePointer<VMHDevIns>?) -> Int32 {
    guard let context = deviceContext(ins), let plugin = context.plugin else { return VMH_OK }
    do { try plugin.resume(); return VMH_OK } catch {
        return reportFailure(error, callback: "resume", instance: context.ref)
    }
}

/// Runs one power callback that may go async and, when it answers pending, registers the poller.
func deviceAsyncCapable(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ operation: PowerOperation) {
    guard let ins, let context = deviceContext(ins), let plugin = context.plugin else { return }
    context.asyncState.begin()
    let result: PowerResult
    switch operation {
    case .reset: result = plugin.reset()
    case .suspend: result = plugin.suspend()
    case .powerOff: result = plugin.powerOff()
    }
    guard result == .pending else { return }
    context.asyncState.setPending(operation)
    let status = context.helpers.pointee.setAsyncNotification?(ins, devicePollAsync) ?? VMH_ERR_NOT_SUPPORTED
    if status != VMH_OK {
        context.log(.warning, "\(operation.rawValue) went async but the host refused to wait "
                    + "(\(PluginStatus(rawValue: status)))")
    }
}

func deviceReset(_ ins: UnsafeMutablePointer<VMHDevIns>?) { deviceAsyncCapable(ins, .reset) }
func deviceSuspend(_ ins: UnsafeMutablePointer<VMHDevIns>?) { deviceAsyncCapable(ins, .suspend) }
func devicePowerOff(_ ins: UnsafeMutablePointer<VMHDevIns>?) { deviceAsyncCapable(ins, .powerOff) }

/// The `VMHDevAsyncNotify` poller: true once the pending operation completed.
func devicePollAsync(_ ins: UnsafeMutablePointer<VMHDevIns>?) -> Bool {
    guard let context = deviceContext(ins) else { return true }
    let (done, finished) = context.asyncState.poll()
    if done, let finished { context.plugin?.asyncOperationFinished(finished) }
    return done
}

func deviceAttach(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ lun: UInt32, _ flags: UInt32) -> Int32 {
    guard let context = deviceContext(ins), let plugin = context.plugin else { return VMH_ERR_WRONG_STATE }
    do { try plugin.attach(lun: lun, flags: flags); return VMH_OK } catch {
        return reportFailure(error, callback: "attach (LUN \(lun))", instance: context.ref)
    }
}

func deviceDetach(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ lun: UInt32, _ flags: UInt32) {
    deviceContext(ins)?.plugin?.detach(lun: lun, flags: flags)
}

func deviceQueryInterface(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ lun: UInt32,
                          _ iid: UnsafePointer<CChar>?) -> UnsafeMutableRawPointer? {
    guard let iid, let context = deviceContext(ins) else { return nil }
    let id = InterfaceID(cString: iid)
    if let plugin = context.plugin, let answer = plugin.queryInterface(lun: lun, iid: id) { return answer }
    return context.offeredInterface(lun: lun, iid: id)
}
