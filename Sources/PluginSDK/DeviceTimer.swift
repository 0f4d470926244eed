/// A one-shot device timer created with ``DeviceContext/createTimer(description:handler:)``. The handler runs on
/// the host's timer thread, under the instance lock unless the device is ``DeviceFlags/threadSafe``.
public final class DeviceTimer: @unchecked Sendable {
    /// What runs when the timer fires.
    public typealias Handler = () -> Void

    /// The host's handle.
    public private(set) var handle: UInt64 = 0
    private let instance: UnsafeMutablePointer<VMHDevIns>
    private var handler: Handler?

    init(instance: UnsafeMutablePointer<VMHDevIns>, handler: @escaping Handler) {
        self.instance = instance
        self.handler = handler
    }

    func setHandle(_ handle: UInt64) { self.handle = handle }

    /// Drops the handler (destruct), breaking reference cycles with the plugin.
    func invalidate() { handler = nil }

    fileprivate func fire() { handler?() }

    /// Arms the timer to fire `nanoseconds` from now, replacing any earlier deadline.
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

/// The `VMHTimerCallback` every SDK timer registers.
func deviceTimerThunk(_ ins: UnsafeMutablePointer<VMHDevIns>?, _ user: UnsafeMutableRawPointer?, _ timer: UInt64) {
    guard let user else { return }
    Unmanaged<DeviceTimer>.fromOpaque(user).takeUnretainedValue().fire()
}
