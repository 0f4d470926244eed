import CVMHostABI

/// Names of the plugin ABI status codes (`VMH_OK`, `VMH_ERR_*`) for messages.
public enum StatusCode {
    /// `VMH_ERR_GENERAL (-1)`; an unknown value gives `status -42`.
    public static func describe(_ status: Int32) -> String {
        guard let name = name(of: status) else { return "status \(status)" }
        return "\(name) (\(status))"
    }

    /// The macro name of a status code, or nil when the header defines none with that value.
    public static func name(of status: Int32) -> String? {
        switch status {
        case 0: return "VMH_OK"
        case -1: return "VMH_ERR_GENERAL"
        case -2: return "VMH_ERR_INVALID_PARAMETER"
        case -3: return "VMH_ERR_NOT_SUPPORTED"
        case -4: return "VMH_ERR_NO_MEMORY"
        case -5: return "VMH_ERR_NOT_FOUND"
        case -6: return "VMH_ERR_BUFFER_TOO_SMALL"
        case -7: return "VMH_ERR_WRONG_TYPE"
        case -8: return "VMH_ERR_NO_DRIVER_ATTACHED"
        case -9: return "VMH_ERR_WRONG_STATE"
        case -10: return "VMH_ERR_RANGE_CONFLICT"
        case -11: return "VMH_ERR_OUT_OF_RANGE"
        case -12: return "VMH_ERR_VERSION_MISMATCH"
        case -13: return "VMH_ERR_ALREADY_EXISTS"
        case -14: return "VMH_ERR_INVALID_NAME"
        case -15: return "VMH_ERR_IO"
        case -16: return "VMH_ERR_TIMEOUT"
        case -17: return "VMH_ERR_UNKNOWN_CONFIG_KEY"
        case -18: return "VMH_ERR_TOO_MANY_INSTANCES"
        case -19: return "VMH_ERR_INVALID_VALUE"
        default: return nil
        }
    }
}
