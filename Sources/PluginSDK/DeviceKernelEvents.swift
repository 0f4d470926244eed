/// Kernel event bindings of the device helpers (minor 1): notify registers and interrupt lines handled in the
/// kernel without leaving the guest or calling the host.
extension DeviceContext {
    /// The address space of an ioeventfd binding.
    public enum IOEventSpace: Sendable {
        case port, mmio
    }

    /// Binds `event` to guest writes of `length` bytes at `address` (inside one of this device's ranges): such a
    /// write then only signals `event`. With `dataMatch`, only writes of that value do. Throws
    /// ``PluginStatus/notSupported`` when the host cannot (older host, no KVM): keep handling the write in the
    /// I/O callback then.
    public func bindIOEvent(_ event: EventFD, space: IOEventSpace, address: UInt64, length: UInt32,
                            dataMatch: UInt64? = nil) throws(PluginError) {
        guard ABIVersion.hostHasDeviceHelpers(helpers.pointee.version, minor: 1),
              let register = helpers.pointee.ioEventFdRegister
        else { throw PluginError(.notSupported, "the host has no ioEventFdRegister helper") }
        let status = register(instance, event.descriptor, space == .port ? VMH_IOEVENT_SPACE_PORT : VMH_IOEVENT_SPACE_MMIO,
                              address, length, dataMatch == nil ? 0 : VMH_IOEVENT_F_DATAMATCH, dataMatch ?? 0)
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status), "binding an ioeventfd at \(hex(address)) failed")
        }
    }

    /// Appends `word` (no spaces, e.g. `virtio_mmio.device=512@0xd0001000:10`) to the guest's kernel command
    /// line, so that the guest finds this device. Only during construct. Throws ``PluginStatus/notSupported``
    /// when the host boots no kernel (the test kit).
    public func appendKernelCommandLine(_ word: String) throws(PluginError) {
        guard ABIVersion.hostHasDeviceHelpers(helpers.pointee.version, minor: 1),
              let append = helpers.pointee.kernelCmdlineAppend
        else { throw PluginError(.notSupported, "the host has no kernelCmdlineAppend helper") }
        let status = word.withCString { append(instance, $0) }
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status), "adding '\(word)' to the kernel command line failed")
        }
    }

    /// Binds `event` to interrupt line `irq`: each ``EventFD/signal()`` injects one edge in the kernel. Throws
    /// ``PluginStatus/notSupported`` when the host cannot (use ``setIRQ(_:high:)`` then).
    public func bindIRQ(_ event: EventFD, irq: UInt32) throws(PluginError) {
        guard ABIVersion.hostHasDeviceHelpers(helpers.pointee.version, minor: 1),
              let register = helpers.pointee.irqFdRegister
        else { throw PluginError(.notSupported, "the host has no irqFdRegister helper") }
        let status = register(instance, event.descriptor, irq, 0)
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status), "binding an irqfd to IRQ \(irq) failed")
        }
    }
}
