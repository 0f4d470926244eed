/// A VMHost status code (`VMH_OK` or one of the negative `VMH_ERR_*` values), as a type.
public struct PluginStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The C value.
    public let rawValue: Int32

    /// Wraps a C status value.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `VMH_OK`.
    public static let ok = PluginStatus(rawValue: VMH_OK)
    /// `VMH_ERR_GENERAL`: unspecified failure.
    public static let general = PluginStatus(rawValue: VMH_ERR_GENERAL)
    /// `VMH_ERR_INVALID_PARAMETER`: a NULL or out-of-range argument.
    public static let invalidParameter = PluginStatus(rawValue: VMH_ERR_INVALID_PARAMETER)
    /// `VMH_ERR_NOT_SUPPORTED`: the host does not provide the service.
    public static let notSupported = PluginStatus(rawValue: VMH_ERR_NOT_SUPPORTED)
    /// `VMH_ERR_NO_MEMORY`.
    public static let noMemory = PluginStatus(rawValue: VMH_ERR_NO_MEMORY)
    /// `VMH_ERR_NOT_FOUND`: configuration key absent.
    public static let notFound = PluginStatus(rawValue: VMH_ERR_NOT_FOUND)
    /// `VMH_ERR_BUFFER_TOO_SMALL`.
    public static let bufferTooSmall = PluginStatus(rawValue: VMH_ERR_BUFFER_TOO_SMALL)
    /// `VMH_ERR_WRONG_TYPE`: configuration value has another type.
    public static let wrongType = PluginStatus(rawValue: VMH_ERR_WRONG_TYPE)
    /// `VMH_ERR_NO_DRIVER_ATTACHED`: no driver is configured below that LUN or driver.
    public static let noDriverAttached = PluginStatus(rawValue: VMH_ERR_NO_DRIVER_ATTACHED)
    /// `VMH_ERR_WRONG_STATE`: not allowed now.
    public static let wrongState = PluginStatus(rawValue: VMH_ERR_WRONG_STATE)
    /// `VMH_ERR_RANGE_CONFLICT`: a port or MMIO range overlaps another registration.
    public static let rangeConflict = PluginStatus(rawValue: VMH_ERR_RANGE_CONFLICT)
    /// `VMH_ERR_OUT_OF_RANGE`: guest-physical access outside guest RAM.
    public static let outOfRange = PluginStatus(rawValue: VMH_ERR_OUT_OF_RANGE)
    /// `VMH_ERR_VERSION_MISMATCH`: host and plugin tables are not compatible.
    public static let versionMismatch = PluginStatus(rawValue: VMH_ERR_VERSION_MISMATCH)
    /// `VMH_ERR_ALREADY_EXISTS`.
    public static let alreadyExists = PluginStatus(rawValue: VMH_ERR_ALREADY_EXISTS)
    /// `VMH_ERR_INVALID_NAME`.
    public static let invalidName = PluginStatus(rawValue: VMH_ERR_INVALID_NAME)
    /// `VMH_ERR_IO`.
    public static let io = PluginStatus(rawValue: VMH_ERR_IO)
    /// `VMH_ERR_TIMEOUT`.
    public static let timeout = PluginStatus(rawValue: VMH_ERR_TIMEOUT)
    /// `VMH_ERR_UNKNOWN_CONFIG_KEY`: the configuration holds a key the plugin does not know.
    public static let unknownConfigKey = PluginStatus(rawValue: VMH_ERR_UNKNOWN_CONFIG_KEY)
    /// `VMH_ERR_TOO_MANY_INSTANCES`.
    public static let tooManyInstances = PluginStatus(rawValue: VMH_ERR_TOO_MANY_INSTANCES)
    /// `VMH_ERR_INVALID_VALUE`: a configuration value has the right type but a bad value.
    public static let invalidValue = PluginStatus(rawValue: VMH_ERR_INVALID_VALUE)

    /// True for `VMH_OK`.
    public var isSuccess: Bool { rawValue == VMH_OK }

    /// The C macro name, e.g. `VMH_ERR_NOT_FOUND`.
    public var description: String {
        switch rawValue {
        case VMH_OK: "VMH_OK"
        case VMH_ERR_GENERAL: "VMH_ERR_GENERAL"
        case VMH_ERR_INVALID_PARAMETER: "VMH_ERR_INVALID_PARAMETER"
        case VMH_ERR_NOT_SUPPORTED: "VMH_ERR_NOT_SUPPORTED"
        case VMH_ERR_NO_MEMORY: "VMH_ERR_NO_MEMORY"
        case VMH_ERR_NOT_FOUND: "VMH_ERR_NOT_FOUND"
        case VMH_ERR_BUFFER_TOO_SMALL: "VMH_ERR_BUFFER_TOO_SMALL"
        case VMH_ERR_WRONG_TYPE: "VMH_ERR_WRONG_TYPE"
        case VMH_ERR_NO_DRIVER_ATTACHED: "VMH_ERR_NO_DRIVER_ATTACHED"
        case VMH_ERR_WRONG_STATE: "VMH_ERR_WRONG_STATE"
        case VMH_ERR_RANGE_CONFLICT: "VMH_ERR_RANGE_CONFLICT"
        case VMH_ERR_OUT_OF_RANGE: "VMH_ERR_OUT_OF_RANGE"
        case VMH_ERR_VERSION_MISMATCH: "VMH_ERR_VERSION_MISMATCH"
        case VMH_ERR_ALREADY_EXISTS: "VMH_ERR_ALREADY_EXISTS"
        case VMH_ERR_INVALID_NAME: "VMH_ERR_INVALID_NAME"
        case VMH_ERR_IO: "VMH_ERR_IO"
        case VMH_ERR_TIMEOUT: "VMH_ERR_TIMEOUT"
        case VMH_ERR_UNKNOWN_CONFIG_KEY: "VMH_ERR_UNKNOWN_CONFIG_KEY"
        case VMH_ERR_TOO_MANY_INSTANCES: "VMH_ERR_TOO_MANY_INSTANCES"
        case VMH_ERR_INVALID_VALUE: "VMH_ERR_INVALID_VALUE"
        default: "VMH status \(rawValue)"
        }
    }
}
