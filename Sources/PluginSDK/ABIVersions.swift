@_exported import CVMHostABI
import VMHostABINote

/// The ABI versions this plugin was compiled against, and the version arithmetic of `vmhost_plugin.h`.
///
/// The values are read from the `.note.vmhost` ABI note linked into every SDK plugin, so they always equal the
/// header's `VMH_*_VERSION` macros (which Swift cannot import because they are function-like).
public enum ABIVersion {
    /// `VMH_ABI_VERSION`: the plugin ABI as a whole.
    public static var abi: UInt32 { vmh_abi_note.desc.abiVersion }
    /// `VMH_REGISTRAR_VERSION`.
    public static var registrar: UInt32 { vmh_abi_note.desc.registrarVersion }
    /// `VMH_DEVREG_VERSION`.
    public static var deviceRegistration: UInt32 { vmh_abi_note.desc.devRegVersion }
    /// `VMH_DEVINS_VERSION`.
    public static var deviceInstance: UInt32 { vmh_abi_note.desc.devInsVersion }
    /// `VMH_DEVHLP_VERSION`.
    public static var deviceHelpers: UInt32 { vmh_abi_note.desc.devHlpVersion }
    /// `VMH_DRVREG_VERSION`.
    public static var driverRegistration: UInt32 { vmh_abi_note.desc.drvRegVersion }
    /// `VMH_DRVINS_VERSION`.
    public static var driverInstance: UInt32 { vmh_abi_note.desc.drvInsVersion }
    /// `VMH_DRVHLP_VERSION`.
    public static var driverHelpers: UInt32 { vmh_abi_note.desc.drvHlpVersion }

    /// `VMH_VERSION_MAKE`: a version value from a 16-bit struct magic, an 8-bit major and an 8-bit minor.
    public static func make(magic: UInt16, major: UInt8, minor: UInt8) -> UInt32 {
        UInt32(magic) << 16 | UInt32(major) << 8 | UInt32(minor)
    }

    /// `VMH_VERSION_SATISFIES`: true when something built against `built` may be used by a side implementing
    /// `have` (same magic and major, and `have`'s minor at least `built`'s).
    public static func satisfies(have: UInt32, built: UInt32) -> Bool {
        have >> 8 == built >> 8 && have & 0xff >= built & 0xff
    }

    /// Whether a host whose device helper table has version `have` offers the helpers of minor `minor` (of the
    /// major this SDK was built against). The SDK checks this before calling a helper a later minor added.
    static func hostHasDeviceHelpers(_ have: UInt32, minor: UInt8) -> Bool {
        satisfies(have: have, built: deviceHelpers & 0xffff_ff00 | UInt32(minor))
    }

    /// A version value as `magic:major.minor` in hex, for messages.
    public static func describe(_ version: UInt32) -> String {
        "0x" + String(version >> 16, radix: 16) + ":" + String((version >> 8) & 0xff) + "." + String(version & 0xff)
    }
}
