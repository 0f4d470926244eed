/// An interface id: a string `"vmhost.<name>/<major>"` naming a struct of function pointers that a driver or
/// device offers (see the "Standard interfaces" section of `vmhost_plugin.h`).
public struct InterfaceID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The id string.
    public let rawValue: String

    /// An id from its string.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// An id from a string literal.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// An id from a C string passed by the host (e.g. to `queryInterface`).
    init(cString: UnsafePointer<CChar>) { self.rawValue = String(cString: cString) }

    /// `VMH_IID_CHAR_CONNECTOR`: a byte stream towards the host (``CharConnector``).
    public static let charConnector = InterfaceID(VMH_IID_CHAR_CONNECTOR)
    /// `VMH_IID_CHAR_PORT`: a byte stream towards the guest (``CharPort``).
    public static let charPort = InterfaceID(VMH_IID_CHAR_PORT)

    /// The id string.
    public var description: String { rawValue }
}

/// A Swift handle for calling an interface that another plugin offers: wraps the C struct pointer returned by
/// `queryBelow`, `queryAbove` or `queryLunInterface`. See ``DriverContext/queryBelow(_:)``.
public protocol InterfaceHandle {
    /// The id this handle is for.
    static var iid: InterfaceID { get }
    /// Wraps a pointer to the C interface struct; nil when `pointer` is nil.
    init?(_ pointer: UnsafeMutableRawPointer?)
}

/// An interface this plugin offers: a stable C struct whose `context` leads back to the Swift object. Offer it
/// through ``DeviceContext/offer(_:lun:)`` or ``DriverContext/offer(_:)`` (the SDK then answers queries for it),
/// or return ``answer(_:)`` from your own `queryInterface`.
public protocol OfferedInterface: AnyObject {
    /// The id this interface answers to.
    static var iid: InterfaceID { get }
    /// The C struct, valid until the offering instance is destructed.
    var rawPointer: UnsafeMutableRawPointer { get }
    /// Detaches the C struct from the Swift side, so that a call after the offering instance's destruct fails
    /// cleanly instead of reaching freed memory (called by the SDK at destruct).
    func invalidate()
}

extension OfferedInterface {
    /// The C struct when `iid` is this interface's id, else nil: `return connector.answer(iid)`.
    public func answer(_ iid: InterfaceID) -> UnsafeMutableRawPointer? {
        iid == Self.iid ? rawPointer : nil
    }
}
