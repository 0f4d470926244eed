/// The C instance behind a ``DeviceContext`` or ``DriverContext``: the one place that picks the device or driver
/// helper table for the services both have (logging, configuration, async notification).
enum InstanceRef: @unchecked Sendable {
    case device(UnsafeMutablePointer<VMHDevIns>)
    case driver(UnsafeMutablePointer<VMHDrvIns>)

    /// `ins->name`, or a placeholder when the host left it NULL.
    var name: String {
        let cName: UnsafePointer<CChar>?
        switch self {
        case .device(let ins): cName = ins.pointee.name
        case .driver(let ins): cName = ins.pointee.name
        }
        return cName.map { String(cString: $0) } ?? "<unnamed instance>"
    }

    func log(_ level: LogLevel, _ message: String) {
        message.withCString { text in
            switch self {
            case .device(let ins): ins.pointee.hlp?.pointee.log?(ins, level.rawValue, text)
            case .driver(let ins): ins.pointee.hlp?.pointee.log?(ins, level.rawValue, text)
            }
        }
    }

    func cfgValidate(_ allowed: UnsafePointer<CChar>) -> Int32 {
        switch self {
        case .device(let ins): ins.pointee.hlp?.pointee.cfgValidate?(ins, allowed) ?? VMH_ERR_NOT_SUPPORTED
        case .driver(let ins): ins.pointee.hlp?.pointee.cfgValidate?(ins, allowed) ?? VMH_ERR_NOT_SUPPORTED
        }
    }

    func cfgQueryString(_ key: UnsafePointer<CChar>, _ buf: UnsafeMutablePointer<CChar>, _ size: Int) -> Int32 {
        switch self {
        case .device(let ins): ins.pointee.hlp?.pointee.cfgQueryString?(ins, key, buf, size) ?? VMH_ERR_NOT_SUPPORTED
        case .driver(let ins): ins.pointee.hlp?.pointee.cfgQueryString?(ins, key, buf, size) ?? VMH_ERR_NOT_SUPPORTED
        }
    }

    func cfgQueryInteger(_ key: UnsafePointer<CChar>, _ value: UnsafeMutablePointer<Int64>) -> Int32 {
        switch self {
        case .device(let ins): ins.pointee.hlp?.pointee.cfgQueryInteger?(ins, key, value) ?? VMH_ERR_NOT_SUPPORTED
        case .driver(let ins): ins.pointee.hlp?.pointee.cfgQueryInteger?(ins, key, value) ?? VMH_ERR_NOT_SUPPORTED
        }
    }

    func cfgQueryBool(_ key: UnsafePointer<CChar>, _ value: UnsafeMutablePointer<Bool>) -> Int32 {
        switch self {
        case .device(let ins): ins.pointee.hlp?.pointee.cfgQueryBool?(ins, key, value) ?? VMH_ERR_NOT_SUPPORTED
        case .driver(let ins): ins.pointee.hlp?.pointee.cfgQueryBool?(ins, key, value) ?? VMH_ERR_NOT_SUPPORTED
        }
    }

    @discardableResult
    func cfgError(key: String, message: String) -> Int32 {
        key.withCString { cKey in
            message.withCString { cMessage in
                switch self {
                case .device(let ins): ins.pointee.hlp?.pointee.cfgError?(ins, cKey, cMessage) ?? VMH_ERR_NOT_SUPPORTED
                case .driver(let ins): ins.pointee.hlp?.pointee.cfgError?(ins, cKey, cMessage) ?? VMH_ERR_NOT_SUPPORTED
                }
            }
        }
    }

    func asyncNotificationCompleted() {
        switch self {
        case .device(let ins): ins.pointee.hlp?.pointee.asyncNotificationCompleted?(ins)
        case .driver(let ins): ins.pointee.hlp?.pointee.asyncNotificationCompleted?(ins)
        }
    }

    func clockNanoseconds() -> UInt64 {
        switch self {
        case .device(let ins): ins.pointee.hlp?.pointee.clockNanoseconds?(ins) ?? 0
        case .driver(let ins): ins.pointee.hlp?.pointee.clockNanoseconds?(ins) ?? 0
        }
    }
}
