/// One driver instance as the SDK sees it: the C `VMHDrvIns`, typed access to the driver helpers, and what the
/// SDK keeps alive for the instance (the plugin object and the interfaces it offers).
public final class DriverContext: @unchecked Sendable {
    /// The C instance (owned by the host; valid until destruct returns).
    public let instance: UnsafeMutablePointer<VMHDrvIns>
    /// The host's helper table.
    let helpers: UnsafePointer<VMHDrvHlp>
    let ref: InstanceRef
    let asyncState: AsyncState
    var plugin: (any DriverPlugin)?
    private var interfaces: [any OfferedInterface] = []
    /// Interface handler boxes (reached through the interfaces' `context` pointers): owned here only.
    private var handlerObjects: [AnyObject] = []

    init(instance: UnsafeMutablePointer<VMHDrvIns>, helpers: UnsafePointer<VMHDrvHlp>) {
        self.instance = instance
        self.helpers = helpers
        self.ref = .driver(instance)
        self.asyncState = AsyncState(.driver(instance))
        self.config = Configuration(instance: .driver(instance))
    }

    /// The instance's `settings`.
    public let config: Configuration

    /// `"<device>/<inst>/<lun>/<driver>/<inst>"`, for messages.
    public var name: String { ref.name }

    /// Instance number among instances of the same driver, from 0.
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

    // MARK: The chain

    /// Constructs the driver configured below this one. Returns false when none is configured
    /// (`VMH_ERR_NO_DRIVER_ATTACHED`); throws for any other failure.
    @discardableResult
    public func attachBelow(flags: UInt32 = 0) throws(PluginError) -> Bool {
        guard let attach = helpers.pointee.attachBelow else {
            throw PluginError(.notSupported, "the host has no attachBelow helper")
        }
        let status = attach(instance, flags)
        switch status {
        case VMH_OK: return true
        case VMH_ERR_NO_DRIVER_ATTACHED: return false
        default: throw PluginError(PluginStatus(rawValue: status), "attaching the driver below failed")
        }
    }

    /// The interface `iid` offered by the driver below, or nil.
    public func queryBelow(iid: InterfaceID) -> UnsafeMutableRawPointer? {
        guard let query = helpers.pointee.queryBelow else { return nil }
        return iid.rawValue.withCString { query(instance, $0) }
    }

    /// The interface of type `type` offered by the driver below, or nil: `context.queryBelow(CharConnector.self)`.
    public func queryBelow<I: InterfaceHandle>(_ type: I.Type) -> I? {
        I(queryBelow(iid: I.iid))
    }

    /// The interface `iid` offered by the driver or device above, or nil.
    public func queryAbove(iid: InterfaceID) -> UnsafeMutableRawPointer? {
        guard let query = helpers.pointee.queryAbove else { return nil }
        return iid.rawValue.withCString { query(instance, $0) }
    }

    /// The interface of type `type` offered by the driver or device above, or nil.
    public func queryAbove<I: InterfaceHandle>(_ type: I.Type) -> I? {
        I(queryAbove(iid: I.iid))
    }

    /// Creates a char connector this driver offers to the one above (output towards the host). The SDK answers
    /// `queryInterface` for it, so the plugin need not override ``DriverPlugin/queryInterface(iid:)``.
    @discardableResult
    public func offerCharConnector(write: @escaping OfferedCharConnector.Write,
                                   flush: @escaping OfferedCharConnector.Flush = { .ok }) -> OfferedCharConnector {
        let handlers = OfferedCharConnector.Handlers(write: write, flush: flush)
        handlerObjects.append(handlers)
        let connector = OfferedCharConnector(handlers: handlers)
        offer(connector)
        return connector
    }

    /// Creates a char port this driver offers to the one below (input towards the guest); answered by the SDK
    /// like ``offerCharConnector(write:flush:)``.
    @discardableResult
    public func offerCharPort(receive: @escaping OfferedCharPort.Receive) -> OfferedCharPort {
        let handlers = OfferedCharPort.Handlers(receive: receive)
        handlerObjects.append(handlers)
        let port = OfferedCharPort(handlers: handlers)
        offer(port)
        return port
    }

    /// Offers `interface` to the drivers above and below: the SDK answers `queryInterface` for its id after asking
    /// the plugin (also while `init` still runs), keeps it alive until destruct and invalidates it then.
    public func offer(_ interface: any OfferedInterface) {
        interfaces.append(interface)
    }

    /// The offered interface answering `iid`, if any.
    func offeredInterface(iid: InterfaceID) -> UnsafeMutableRawPointer? {
        for interface in interfaces {
            if let answer = interface.answer(iid) { return answer }
        }
        return nil
    }

    /// Monotonic host clock in nanoseconds.
    public var clockNanoseconds: UInt64 { ref.clockNanoseconds() }

    // MARK: Async power operations

    /// A token that completes the reset/suspend/power-off now running. Call it inside that callback, before
    /// returning ``PowerResult/pending``.
    public func asyncCompletion() -> AsyncCompletion {
        asyncState.token()
    }

    /// Drops the plugin and invalidates the offered interfaces.
    func tearDown() {
        asyncState.detach()
        for interface in interfaces { interface.invalidate() }
        interfaces.removeAll()
        handlerObjects.removeAll()
        plugin = nil
    }
}
