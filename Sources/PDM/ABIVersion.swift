/// A 32-bit ABI version value as the plugin header builds it with `VMH_VERSION_MAKE(magic, major, minor)`:
/// bits 31..16 the magic of the struct type, bits 15..8 the major, bits 7..0 the minor.
public struct ABIVersion: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(magic: UInt16, major: UInt8, minor: UInt8) {
        rawValue = UInt32(magic) << 16 | UInt32(major) << 8 | UInt32(minor)
    }

    public var magic: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 16) }
    public var major: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 8) }
    public var minor: UInt8 { UInt8(truncatingIfNeeded: rawValue) }

    /// `major.minor`, as used in messages.
    public var majorMinor: String { "\(major).\(minor)" }

    /// `VMH_VERSION_SATISFIES(self, built)`: something built against `built` may be used by a side that
    /// implements `self` — same magic, same major, and this minor at least `built`'s.
    public func satisfies(built: ABIVersion) -> Bool {
        rawValue >> 8 == built.rawValue >> 8 && minor >= built.minor
    }

    public var description: String { "0x\(String(rawValue, radix: 16)) (\(majorMinor))" }
}

/// The versioned tables of the plugin ABI (`vmhost_plugin.h`), with the versions this host implements.
public enum ABITable: CaseIterable, Sendable {
    case abi
    case registrar
    case deviceRegistration
    case deviceInstance
    case deviceHelpers
    case driverRegistration
    case driverInstance
    case driverHelpers

    /// The version this host implements (the header's value when the host was built).
    public var hostVersion: ABIVersion {
        switch self {
        case .abi: return ABIVersion(magic: 0x564d, major: 1, minor: 0)
        case .registrar: return ABIVersion(magic: 0xa001, major: 1, minor: 0)
        case .deviceRegistration: return ABIVersion(magic: 0xa010, major: 1, minor: 0)
        case .deviceInstance: return ABIVersion(magic: 0xa011, major: 1, minor: 0)
        case .deviceHelpers: return ABIVersion(magic: 0xa012, major: 1, minor: 2)
        case .driverRegistration: return ABIVersion(magic: 0xa020, major: 1, minor: 0)
        case .driverInstance: return ABIVersion(magic: 0xa021, major: 1, minor: 0)
        case .driverHelpers: return ABIVersion(magic: 0xa022, major: 1, minor: 0)
        }
    }

    /// The header macro naming the version (`VMH_DEVHLP_VERSION`).
    public var macroName: String {
        switch self {
        case .abi: return "VMH_ABI_VERSION"
        case .registrar: return "VMH_REGISTRAR_VERSION"
        case .deviceRegistration: return "VMH_DEVREG_VERSION"
        case .deviceInstance: return "VMH_DEVINS_VERSION"
        case .deviceHelpers: return "VMH_DEVHLP_VERSION"
        case .driverRegistration: return "VMH_DRVREG_VERSION"
        case .driverInstance: return "VMH_DRVINS_VERSION"
        case .driverHelpers: return "VMH_DRVHLP_VERSION"
        }
    }

    /// Words for messages ("device helpers").
    public var displayName: String {
        switch self {
        case .abi: return "plugin ABI"
        case .registrar: return "registrar"
        case .deviceRegistration: return "device registration"
        case .deviceInstance: return "device instance"
        case .deviceHelpers: return "device helpers"
        case .driverRegistration: return "driver registration"
        case .driverInstance: return "driver instance"
        case .driverHelpers: return "driver helpers"
        }
    }

    /// Why this host cannot serve something built against `built`, or nil when it can. For example
    /// `built for device helpers 1.3 (VMH_DEVHLP_VERSION), this host implements 1.0`.
    public func incompatibility(built: ABIVersion) -> String? {
        let host = hostVersion
        if host.satisfies(built: built) { return nil }
        if built.magic != host.magic {
            return "\(displayName) version 0x\(String(built.rawValue, radix: 16)) has magic "
                + "0x\(String(built.magic, radix: 16)), \(macroName) has magic 0x\(String(host.magic, radix: 16))"
        }
        return "built for \(displayName) \(built.majorMinor) (\(macroName)), this host implements \(host.majorMinor)"
    }
}
