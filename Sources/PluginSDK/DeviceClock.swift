/// The device clock (device helpers minor 2): the clock this device's timers run on.
extension DeviceContext {
    /// The VM's device clock in nanoseconds. It counts only the time the VM was not suspended, so a counter
    /// derived from it (a PIT count, an HPET main counter) does not jump when the VM resumes; its origin is
    /// arbitrary (use differences). Unlike ``clockNanoseconds`` (the host's clock, which runs on while the VM is
    /// suspended), deadlines given to ``DeviceTimer/arm(atDeviceClock:)`` are values of this clock. Throws
    /// ``PluginStatus/notSupported`` on a host older than helpers 1.2 or with no VMM.
    public func deviceClockNanoseconds() throws(PluginError) -> UInt64 {
        guard ABIVersion.hostHasDeviceHelpers(helpers.pointee.version, minor: 2),
              let read = helpers.pointee.deviceClockNanoseconds
        else { throw PluginError(.notSupported, "the host has no deviceClockNanoseconds helper") }
        var now: UInt64 = 0
        let status = read(instance, &now)
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status), "reading the device clock failed")
        }
        return now
    }
}

extension DeviceTimer {
    /// Arms the timer to fire when the device clock (``DeviceContext/deviceClockNanoseconds()``) reaches
    /// `deadline` — at once if it already has — replacing any earlier deadline. A periodic device arms each tick
    /// at the previous deadline plus its period, so the ticks keep their rate whatever the callback's latency.
    /// Throws ``PluginStatus/notSupported`` on a host older than helpers 1.2.
    public func arm(atDeviceClock deadline: UInt64) throws(PluginError) {
        guard let helpers = instance.pointee.hlp,
              ABIVersion.hostHasDeviceHelpers(helpers.pointee.version, minor: 2),
              let armAt = helpers.pointee.timerArmAt
        else { throw PluginError(.notSupported, "the host has no timerArmAt helper") }
        let status = armAt(instance, handle, deadline)
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status), "arming timer \(handle) at \(deadline) failed")
        }
    }
}
