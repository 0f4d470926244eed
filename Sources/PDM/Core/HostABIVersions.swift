import CVMHostABI

/// The ABI version values this host implements. The header's VMH_*_VERSION macros are function-like, which Swift
/// cannot import, so they are rebuilt here from the same magic/major/minor triples.
enum HostABIVersions {
    static func make(_ magic: UInt32, _ major: UInt32, _ minor: UInt32) -> UInt32 {
        ((magic & 0xffff) << 16) | ((major & 0xff) << 8) | (minor & 0xff)
    }
    static let devIns = make(0xa011, 1, 0)
    static let devHlp = make(0xa012, 1, 0)
    static let drvIns = make(0xa021, 1, 0)
    static let drvHlp = make(0xa022, 1, 0)
}

/// The symbolic name of a VMH status code, for messages ("VMH_ERR_WRONG_STATE (-9)").
func vmhStatusName(_ status: Int32) -> String {
    let name: String
    switch status {
    case 0: name = "VMH_OK"
    case -1: name = "VMH_ERR_GENERAL"
    case -2: name = "VMH_ERR_INVALID_PARAMETER"
    case -3: name = "VMH_ERR_NOT_SUPPORTED"
    case -4: name = "VMH_ERR_NO_MEMORY"
    case -5: name = "VMH_ERR_NOT_FOUND"
    case -6: name = "VMH_ERR_BUFFER_TOO_SMALL"
    case -7: name = "VMH_ERR_WRONG_TYPE"
    case -8: name = "VMH_ERR_NO_DRIVER_ATTACHED"
    case -9: name = "VMH_ERR_WRONG_STATE"
    case -10: name = "VMH_ERR_RANGE_CONFLICT"
    case -11: name = "VMH_ERR_OUT_OF_RANGE"
    case -12: name = "VMH_ERR_VERSION_MISMATCH"
    case -13: name = "VMH_ERR_ALREADY_EXISTS"
    case -14: name = "VMH_ERR_INVALID_NAME"
    case -15: name = "VMH_ERR_IO"
    case -16: name = "VMH_ERR_TIMEOUT"
    case -17: name = "VMH_ERR_UNKNOWN_CONFIG_KEY"
    case -18: name = "VMH_ERR_TOO_MANY_INSTANCES"
    case -19: name = "VMH_ERR_INVALID_VALUE"
    default: name = "VMH status"
    }
    return "\(name) (\(status))"
}
