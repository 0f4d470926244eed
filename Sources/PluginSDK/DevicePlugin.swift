/// Device flags (`VMH_DEVREG_F_*`).
public struct DeviceFlags: OptionSet, Sendable {
    /// The C bits.
    public let rawValue: UInt32
    /// Wraps C bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// On suspend, notify the device before the drivers on its LUNs (and wait for its async work).
    public static let firstSuspend = DeviceFlags(rawValue: VMH_DEVREG_F_FIRST_SUSPEND)
    /// On power-off, notify the device before its drivers.
    public static let firstPowerOff = DeviceFlags(rawValue: VMH_DEVREG_F_FIRST_POWEROFF)
    /// On reset, notify the device before its drivers.
    public static let firstReset = DeviceFlags(rawValue: VMH_DEVREG_F_FIRST_RESET)
    /// The device serialises its own callbacks; the host takes no per-instance lock around them.
    public static let threadSafe = DeviceFlags(rawValue: VMH_DEVREG_F_THREAD_SAFE)
}

/// Instantiation order of a device (`VMH_DEVORDER_*`): lower values are constructed, powered on and suspended
/// first.
public struct DeviceOrder: RawRepresentable, Hashable, Sendable, ExpressibleByIntegerLiteral {
    /// The C value.
    public let rawValue: UInt32
    /// Wraps a C value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Any value.
    public init(integerLiteral value: UInt32) { self.rawValue = value }

    /// `VMH_DEVORDER_PLATFORM`.
    public static let platform = DeviceOrder(rawValue: VMH_DEVORDER_PLATFORM)
    /// `VMH_DEVORDER_INTERRUPT`.
    public static let interrupt = DeviceOrder(rawValue: VMH_DEVORDER_INTERRUPT)
    /// `VMH_DEVORDER_TIMER`.
    public static let timer = DeviceOrder(rawValue: VMH_DEVORDER_TIMER)
    /// `VMH_DEVORDER_BUS`.
    public static let bus = DeviceOrder(rawValue: VMH_DEVORDER_BUS)
    /// `VMH_DEVORDER_STORAGE`.
    public static let storage = DeviceOrder(rawValue: VMH_DEVORDER_STORAGE)
    /// `VMH_DEVORDER_NETWORK`.
    public static let network = DeviceOrder(rawValue: VMH_DEVORDER_NETWORK)
    /// `VMH_DEVORDER_SERIAL`.
    public static let serial = DeviceOrder(rawValue: VMH_DEVORDER_SERIAL)
    /// `VMH_DEVORDER_MISC`.
    public static let misc = DeviceOrder(rawValue: VMH_DEVORDER_MISC)
}

/// A device type written in Swift: one object per device instance.
///
/// The SDK builds the C `VMHDeviceReg` from the static properties and keeps the object behind `Unmanaged` in the
/// instance data; the host's callbacks reach the methods below. Only ``name`` and ``init(context:)`` are
/// required: every other callback has a default that does nothing and succeeds.
///
/// ```swift
/// final class DebugExit: DevicePlugin {
///     static let name = "DebugExit"
///     init(context: DeviceContext) throws {
///         try context.registerPorts(base: 0x501, count: 2, description: "debug exit",
///                                   read: nil, write: { _, _, value in _ = try? context.vmPowerOff(exitStatus: 1) })
///     }
/// }
/// ```
/// Threads: see `vmhost_plugin.h`. Unless ``flags`` has ``DeviceFlags/threadSafe``, the host serialises every
/// callback of one instance, so the object needs no lock of its own for state touched only from callbacks.
public protocol DevicePlugin: AnyObject {
    /// Unique registration name (what a configuration's `name:` uses): `[A-Za-z][A-Za-z0-9_-]*`, at most 31 bytes.
    static var name: String { get }
    /// One line for listings. Default: empty.
    static var description: String { get }
    /// Registration flags. Default: none.
    static var flags: DeviceFlags { get }
    /// Instantiation order. Default: ``DeviceOrder/misc``.
    static var order: DeviceOrder { get }
    /// How many instances one VM may have (> 0). Default: 1.
    static var maxInstances: UInt32 { get }

    /// `construct`: read the configuration, register I/O ranges, attach LUN drivers. Throw to fail (a thrown
    /// ``ConfigError`` or ``PluginError`` gives its status; anything else `VMH_ERR_GENERAL`); the error is logged.
    init(context: DeviceContext) throws
    /// `initComplete`: every device and driver is constructed.
    func initComplete() throws
    /// `powerOn`.
    func powerOn() throws
    /// `reset`; return ``PowerResult/pending`` to finish later.
    func reset() -> PowerResult
    /// `suspend`; return ``PowerResult/pending`` to finish later.
    func suspend() -> PowerResult
    /// `resume`.
    func resume() throws
    /// `powerOff`; return ``PowerResult/pending`` to finish later.
    func powerOff() -> PowerResult
    /// An operation that returned ``PowerResult/pending`` has completed: called on the walk thread when the host's
    /// poll sees the completion.
    func asyncOperationFinished(_ operation: PowerOperation)
    /// `destruct`: release what `init` acquired. Afterwards the SDK drops the object and every handler.
    func destruct()
    /// `attach`: a driver chain was attached to `lun` at run time.
    func attach(lun: UInt32, flags: UInt32) throws
    /// `detach`: the driver chain of `lun` is being detached at run time.
    func detach(lun: UInt32, flags: UInt32)
    /// `queryInterface`: the interface `iid` this device offers to the top driver of `lun`, or nil. Interfaces
    /// offered through the context (``DeviceContext/offer(_:lun:)``) are answered by the SDK when this returns nil.
    func queryInterface(lun: UInt32, iid: InterfaceID) -> UnsafeMutableRawPointer?
}

extension DevicePlugin {
    /// Default: empty.
    public static var description: String { "" }
    /// Default: no flags.
    public static var flags: DeviceFlags { [] }
    /// Default: ``DeviceOrder/misc``.
    public static var order: DeviceOrder { .misc }
    /// Default: 1.
    public static var maxInstances: UInt32 { 1 }

    /// Default: succeeds.
    public func initComplete() throws {}
    /// Default: succeeds.
    public func powerOn() throws {}
    /// Default: done.
    public func reset() -> PowerResult { .done }
    /// Default: done.
    public func suspend() -> PowerResult { .done }
    /// Default: succeeds.
    public func resume() throws {}
    /// Default: done.
    public func powerOff() -> PowerResult { .done }
    /// Default: nothing.
    public func asyncOperationFinished(_ operation: PowerOperation) {}
    /// Default: nothing.
    public func destruct() {}
    /// Default: succeeds.
    public func attach(lun: UInt32, flags: UInt32) throws {}
    /// Default: nothing.
    public func detach(lun: UInt32, flags: UInt32) {}
    /// Default: offers nothing.
    public func queryInterface(lun: UInt32, iid: InterfaceID) -> UnsafeMutableRawPointer? { nil }
}
