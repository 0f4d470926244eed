import CVMHostABI

/// The ABI version values this host implements. The header's VMH_*_VERSION macros are function-like, which Swift
/// cannot import, so they are rebuilt here from the same magic/major/minor triples.
enum HostABIVersions {
    static func make(_ magic: UInt32, _ major: UInt32, _ minor: UInt32) -> UInt32 {
        ((magic & 0xffff) << 16) | ((major & 0xff) << 8) | (minor & 0xff)
    }
    static let devIns = make(0xa011, 1, 0)
    static let devHlp = make(0xa012, 1, 1)
    static let drvIns = make(0xa021, 1, 0)
    static let drvHlp = make(0xa022, 1, 0)
}

/// The symbolic name of a VMH status code, for messages ("VMH_ERR_WRONG_STATE (-9)").
func vmhStatusName(_ status: Int32) -> String {
    StatusCode.describe(status)
}
