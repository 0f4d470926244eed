/// A driver type written in Swift: one object per driver instance.
///
/// The SDK builds the C `VMHDriverReg` from the static properties and keeps the object behind `Unmanaged` in the
/// instance data. Only ``name`` and ``init(context:flags:)`` are required; every other callback has a default
/// that does nothing and succeeds. The host takes no lock around driver callbacks.
///
/// ```swift
/// final class Stdio: DriverPlugin {
///     static let name = "Stdio"
///     init(context: DriverContext, flags: UInt32) throws {
///         // Answered by the SDK for VMH_IID_CHAR_CONNECTOR queries from the device or driver above.
///         context.offerCharConnector(write: { bytes in Int64(write(1, bytes.baseAddress, bytes.count)) })
///     }
/// }
/// ```
public protocol DriverPlugin: AnyObject {
    /// Unique registration name: `[A-Za-z][A-Za-z0-9_-]*`, at most 31 bytes.
    static var name: String { get }
    /// One line for listings. Default: empty.
    static var description: String { get }
    /// How many instances one VM may have (> 0). Default: 64.
    static var maxInstances: UInt32 { get }

    /// `construct`: read the configuration, open resources, attach the driver below if needed. Throw to fail.
    init(context: DriverContext, flags: UInt32) throws
    /// `initComplete`.
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
    /// `destruct`: release what `init` acquired. Afterwards the SDK drops the object and its interfaces.
    func destruct()
    /// `attach`: a driver was attached below this one at run time.
    func attach(flags: UInt32) throws
    /// `detach`: the driver below is being detached at run time.
    func detach(flags: UInt32)
    /// `queryInterface`: the interface `iid` this driver offers, or nil. Interfaces offered through the context
    /// (``DriverContext/offer(_:)``) are answered by the SDK when this returns nil.
    func queryInterface(iid: InterfaceID) -> UnsafeMutableRawPointer?
}

extension DriverPlugin {
    /// Default: empty.
    public static var description: String { "" }
    /// Default: 64.
    public static var maxInstances: UInt32 { 64 }

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
    public func attach(flags: UInt32) throws {}
    /// Default: nothing.
    public func detach(flags: UInt32) {}
    /// Default: offers nothing.
    public func queryInterface(iid: InterfaceID) -> UnsafeMutableRawPointer? { nil }
}
