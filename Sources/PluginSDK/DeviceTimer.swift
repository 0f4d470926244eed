/// A one-shot device timer created with ``DeviceContext/createTimer(description:handler:)``: a handle to arm and
/// stop it. The handler runs on the host's timer thread, under the instance lock unless the device is
/// ``DeviceFlags/threadSafe``. Keeping this object does not keep the handler alive (the instance's context owns
/// it), so a handler capturing the plugin forms no reference cycle.
public final class DeviceTimer: @unchecked Sendable {
    /// What runs when the timer fires.
    public typealias Handler = () -> Void

    /// The host's handle.
    public let handle: UInt64
    let instance: UnsafeMutablePointer<VMHDevIns>

    init(instance: UnsafeMutablePointer<VMHDevIns>, handle: UInt64) {
        self.instance = instance
        self.handle = handle
    }

    /// Arms the timer to fire `nanoseconds` from now, replacing any earlier deadline. The time is the VM's: it stands
    /// still while the VM is suspended (the timer fires after the resume, with the time it had left).
    public func arm(nanoseconds: UInt64) throws(PluginError) {
        guard let armTimer = instance.pointee.hlp?.pointee.timerArm else {
            throw PluginError(.notSupported, "the host has no timerArm helper")
        }
        let status = armTimer(instance, handle, nanoseconds)
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status), "arming timer \(handle) failed")
        }
    }

    /// Disarms the timer.
    public func stop() throws(PluginError) {
        guard let stopTimer = instance.pointee.hlp?.pointee.timerStop else {
            throw PluginError(.notSupported, "the host has no timerStop helper")
        }
        let status = stopTimer(instance, handle)
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status), "stopping timer \(handle) failed")
        }
    }
}

/// The handler of one timer, owned by the instance's context; the timer callback's `user` points here.
final class DeviceTimerHandler {
    let handler: DeviceTimer.Handler
    init(_ handler: @escaping DeviceTimer.Handler) { self.handler = handler }
}

/// The `VMHTimerCallback` every SDK timer registers.
func deviceTimerThunk(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ user: UnsafeMutableRawPointer?, _ timer: UInt64) {
    guard let user else { return }
    Unmanaged<DeviceTimerHandler>.fromOpaque(user)._withUnsafeGuaranteedRef { $0.handler() }
}
