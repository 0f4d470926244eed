/// Why a device asks the VM to suspend (`VMH_SUSPEND_REASON_*`).
public enum SuspendReason: Int32, Sendable {
    /// `VMH_SUSPEND_REASON_USER`.
    case user = 1
    /// `VMH_SUSPEND_REASON_IO_ERROR`.
    case ioError = 2
    /// `VMH_SUSPEND_REASON_GUEST`.
    case guest = 3
    /// `VMH_SUSPEND_REASON_HOST`.
    case host = 4
}

/// One device instance as the SDK sees it: the C `VMHDevIns`, typed access to the device helpers, and what the
/// SDK keeps alive for the instance (the plugin object, I/O handlers, timers, offered interfaces).
///
/// The SDK creates it before calling ``DevicePlugin/init(context:)`` and releases everything at destruct. The
/// plugin may keep a strong reference to it; closures handed to it may capture the plugin (the SDK drops them at
/// destruct).
public final class DeviceContext: @unchecked Sendable {
    /// The C instance (owned by the host; valid until destruct returns).
    public let instance: UnsafeMutablePointer<VMHDevIns>
    /// The host's helper table.
    let helpers: UnsafePointer<VMHDevHlp>
    let ref: InstanceRef
    let asyncState: AsyncState
    var plugin: (any DevicePlugin)?
    /// What the host's callbacks reach through `user`/`context` pointers (ranges, timer and interface handler
    /// boxes): owned here only, released at destruct.
    private var handlerObjects: [AnyObject] = []
    private var interfaces: [(lun: UInt32?, interface: any OfferedInterface)] = []

    init(instance: UnsafeMutablePointer<VMHDevIns>, helpers: UnsafePointer<VMHDevHlp>) {
        self.instance = instance
        self.helpers = helpers
        self.ref = .device(instance)
        self.asyncState = AsyncState(.device(instance))
        self.config = Configuration(instance: .device(instance))
    }

    /// The instance's `settings`.
    public let config: Configuration

    /// `"<device>/<instance>"`, for messages.
    public var name: String { ref.name }

    /// Instance number among instances of the same device, from 0.
    public var instanceNumber: UInt32 { instance.pointee.instance }

    // MARK: Logging

    /// Logs one line under the instance's name.
    public func log(_ level: LogLevel, _ message: String) {
        ref.log(level, message)
    }

    /// Logs one INFO line under the instance's name.
    public func log(_ message: String) {
        ref.log(.info, message)
    }

    // MARK: LUNs and interfaces

    /// Constructs the driver chain configured below `lun`. Returns false when none is configured
    /// (`VMH_ERR_NO_DRIVER_ATTACHED`); throws for any other failure.
    @discardableResult
    public func attachDriver(lun: UInt32) throws(PluginError) -> Bool {
        guard let attach = helpers.pointee.driverAttach else {
            throw PluginError(.notSupported, "the host has no driverAttach helper")
        }
        let status = attach(instance, lun)
        switch status {
        case VMH_OK: return true
        case VMH_ERR_NO_DRIVER_ATTACHED: return false
        default: throw PluginError(PluginStatus(rawValue: status), "attaching the driver of LUN \(lun) failed")
        }
    }

    /// The interface `iid` of the top driver attached to `lun`, or nil.
    public func queryLunInterface(lun: UInt32, iid: InterfaceID) -> UnsafeMutableRawPointer? {
        guard let query = helpers.pointee.queryLunInterface else { return nil }
        return iid.rawValue.withCString { query(instance, lun, $0) }
    }

    /// The interface of type `type` offered by the top driver of `lun`, or nil:
    /// `context.lunInterface(CharConnector.self, lun: 0)`.
    public func lunInterface<I: InterfaceHandle>(_ type: I.Type, lun: UInt32) -> I? {
        I(queryLunInterface(lun: lun, iid: I.iid))
    }

    /// Creates a char port this device offers to the top driver of `lun` (every LUN when nil): input towards the
    /// guest. The SDK answers `queryInterface` for it (also while `init` still runs, e.g. when the driver being
    /// attached queries the device), so the plugin need not override ``DevicePlugin/queryInterface(lun:iid:)``.
    @discardableResult
    public func offerCharPort(lun: UInt32? = nil, receive: @escaping OfferedCharPort.Receive) -> OfferedCharPort {
        let handlers = OfferedCharPort.Handlers(receive: receive)
        handlerObjects.append(handlers)
        let port = OfferedCharPort(handlers: handlers)
        offer(port, lun: lun)
        return port
    }

    /// Offers `interface` to the top driver of `lun` (every LUN when nil): the SDK answers `queryInterface` for
    /// its id after asking the plugin, keeps it alive until destruct and invalidates it then.
    public func offer(_ interface: any OfferedInterface, lun: UInt32? = nil) {
        interfaces.append((lun, interface))
    }

    /// The offered interface answering `iid` for `lun`, if any.
    func offeredInterface(lun: UInt32, iid: InterfaceID) -> UnsafeMutableRawPointer? {
        for entry in interfaces where entry.lun == nil || entry.lun == lun {
            if let answer = entry.interface.answer(iid) { return answer }
        }
        return nil
    }

    // MARK: Port I/O and MMIO (construct only)

    /// Routes guest port I/O in `base ..< base + count` to `read`/`write` (offsets are relative to `base`). A nil
    /// `read` makes reads return all-ones; a nil `write` drops writes. Only during construct.
    /// The handlers may capture the plugin (e.g. method references such as `write: guestWrite`): the context is
    /// their only owner and releases them at destruct.
    public func registerPorts(base: UInt16, count: UInt16, description: String,
                              read: PortIORange.Read?, write: PortIORange.Write?) throws(PluginError) {
        guard let register = helpers.pointee.ioPortRegister else {
            throw PluginError(.notSupported, "the host has no ioPortRegister helper")
        }
        let range = PortIORange(base: base, count: count, read: read, write: write)
        let user = Unmanaged.passUnretained(range).toOpaque()
        let status = description.withCString {
            register(instance, base, count, user, read == nil ? nil : portIORangeReadThunk,
                     write == nil ? nil : portIORangeWriteThunk, $0)
        }
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status),
                              "registering ports \(hex(base))..<\(hex(UInt32(base) + UInt32(count))) failed")
        }
        handlerObjects.append(range)
    }

    /// Routes guest MMIO in `base ..< base + size` to `read`/`write` (offsets are relative to `base`). Only
    /// during construct.
    /// Handler ownership as in ``registerPorts(base:count:description:read:write:)``.
    public func registerMMIO(base: UInt64, size: UInt64, description: String,
                             read: MMIORange.Read?, write: MMIORange.Write?) throws(PluginError) {
        guard let register = helpers.pointee.mmioRegister else {
            throw PluginError(.notSupported, "the host has no mmioRegister helper")
        }
        let range = MMIORange(base: base, size: size, read: read, write: write)
        let user = Unmanaged.passUnretained(range).toOpaque()
        let status = description.withCString {
            register(instance, base, size, user, read == nil ? nil : mmioRangeReadThunk,
                     write == nil ? nil : mmioRangeWriteThunk, $0)
        }
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status),
                              "registering MMIO \(hex(base)) size \(hex(size)) failed")
        }
        handlerObjects.append(range)
    }

    // MARK: Guest memory, interrupts, timers

    /// Copies guest-physical memory at `address` into `buffer`. A naturally aligned 1-, 2-, 4- or 8-byte read is one
    /// load (acquire): a field the guest is updating (a ring index) reads whole, old or new.
    public func physRead(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(PluginError) {
        guard let read = helpers.pointee.physRead else {
            throw PluginError(.notSupported, "the host has no physRead helper")
        }
        guard let base = buffer.baseAddress else { return }
        let status = read(instance, address, base, buffer.count)
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status),
                              "reading \(buffer.count) bytes of guest memory at \(hex(address)) failed")
        }
    }

    /// Copies `bytes` into guest-physical memory at `address`. A naturally aligned 1-, 2-, 4- or 8-byte write is one
    /// store (release: what was written before it is visible no later than it).
    public func physWrite(_ address: UInt64, from bytes: UnsafeRawBufferPointer) throws(PluginError) {
        guard let write = helpers.pointee.physWrite else {
            throw PluginError(.notSupported, "the host has no physWrite helper")
        }
        guard let base = bytes.baseAddress else { return }
        let status = write(instance, address, base, bytes.count)
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status),
                              "writing \(bytes.count) bytes of guest memory at \(hex(address)) failed")
        }
    }

    /// Drives interrupt line `irq` high or low. Safe on the I/O hot path (allocates nothing).
    @discardableResult
    @inline(__always)
    public func setIRQ(_ irq: UInt32, high: Bool) -> PluginStatus {
        guard let setIrq = helpers.pointee.setIrq else { return .notSupported }
        return PluginStatus(rawValue: setIrq(instance, irq, high ? 1 : 0))
    }

    /// Creates a one-shot timer whose `handler` runs when it fires. Only during construct. The context owns the
    /// handler (it may capture the plugin) and releases it at destruct.
    public func createTimer(description: String, handler: @escaping DeviceTimer.Handler) throws(PluginError)
        -> DeviceTimer
    {
        guard let create = helpers.pointee.timerCreate else {
            throw PluginError(.notSupported, "the host has no timerCreate helper")
        }
        let box = DeviceTimerHandler(handler)
        var handle: UInt64 = 0
        let status = description.withCString {
            create(instance, deviceTimerThunk, Unmanaged.passUnretained(box).toOpaque(), $0, &handle)
        }
        guard status == VMH_OK else {
            throw PluginError(PluginStatus(rawValue: status), "creating timer '\(description)' failed")
        }
        handlerObjects.append(box)
        return DeviceTimer(instance: instance, handle: handle)
    }

    /// Monotonic host clock in nanoseconds. It runs on while the VM is suspended; the clock timers run on is
    /// ``deviceClockNanoseconds()``.
    public var clockNanoseconds: UInt64 { ref.clockNanoseconds() }

    // MARK: VM requests

    /// Asks the VM to power off and the `vmhost` process to exit with `exitStatus` once it is off. Returns at once.
    @discardableResult
    public func vmPowerOff(exitStatus: Int32) -> PluginStatus {
        guard let powerOff = helpers.pointee.vmPowerOff else { return .notSupported }
        return PluginStatus(rawValue: powerOff(instance, exitStatus))
    }

    /// Asks the VM to suspend. Returns at once.
    @discardableResult
    public func vmSuspend(reason: SuspendReason) -> PluginStatus {
        guard let suspend = helpers.pointee.vmSuspend else { return .notSupported }
        return PluginStatus(rawValue: suspend(instance, reason.rawValue))
    }

    // MARK: Async power operations

    /// A token that completes the reset/suspend/power-off now running. Call it inside that callback, before
    /// returning ``PowerResult/pending``.
    public func asyncCompletion() -> AsyncCompletion {
        asyncState.token()
    }

    // MARK: Destruct

    /// Drops the plugin and every handler (their closures may capture the plugin).
    func tearDown() {
        asyncState.detach()
        for entry in interfaces { entry.interface.invalidate() }
        interfaces.removeAll()
        handlerObjects.removeAll()
        plugin = nil
    }
}

/// `0x…` for messages.
func hex<T: BinaryInteger>(_ value: T) -> String {
    "0x" + String(value, radix: 16)
}
