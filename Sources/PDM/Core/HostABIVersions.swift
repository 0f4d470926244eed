import CVMHostABI

/// The ABI version values this host puts in the instance and helper tables it hands out (from `ABITable`, the one
/// place that states them).
enum HostABIVersions {
    static let devIns = ABITable.deviceInstance.hostVersion.rawValue
    static let devHlp = ABITable.deviceHelpers.hostVersion.rawValue
    static let drvIns = ABITable.driverInstance.hostVersion.rawValue
    static let drvHlp = ABITable.driverHelpers.hostVersion.rawValue
}

/// The symbolic name of a VMH status code, for messages ("VMH_ERR_WRONG_STATE (-9)").
func vmhStatusName(_ status: Int32) -> String {
    StatusCode.describe(status)
}
