import CVMHostABI

/// The checks a device or driver registration struct must pass before the registry accepts it. Pure: it reads
/// the struct and returns the values or a refusal reason; duplicates are the registry's business.
enum RegistrationValidator {
    /// Largest per-instance data size a plugin may ask for.
    static let maxInstanceSize: UInt32 = 8 << 20

    /// Values read from an accepted registration.
    struct Accepted {
        let name: String
        let summary: String
        let flags: UInt32
        let order: UInt32
        let maxInstances: UInt32
        let instanceSize: UInt32
        let helperVersion: ABIVersion
    }

    /// A refusal: the status code returned to the plugin and the reason (without the file name).
    struct Refusal: Error {
        let status: Int32
        let kind: PluginLoadError.Kind
        let reason: String
    }

    static func validateDevice(_ reg: UnsafePointer<VMHDeviceReg>?) -> Result<Accepted, Refusal> {
        guard let reg else {
            return .failure(Refusal(status: VMH_ERR_INVALID_PARAMETER, kind: .invalidRegistration,
                                    reason: "registerDevice called with a NULL registration"))
        }
        // Read the leading version word alone: with a foreign magic or major the struct's layout is unknown.
        let version = ABIVersion(rawValue: UnsafeRawPointer(reg).load(as: UInt32.self))
        if let refusal = versionRefusal(version, table: .deviceRegistration, what: "device") { return .failure(refusal) }
        let value = reg.pointee
        let name: String
        switch readName(value.name, what: "device") {
        case .success(let valid): name = valid
        case .failure(let refusal): return .failure(refusal)
        }
        let label = "device '\(name)'"
        if let reason = ABITable.deviceRegistration.incompatibility(built: version) {
            return .failure(Refusal(status: VMH_ERR_VERSION_MISMATCH, kind: .abiMismatch, reason: "\(label): \(reason)"))
        }
        if value.versionEnd != value.version {
            return .failure(invalid("\(label): versionEnd 0x\(hex(value.versionEnd)) differs from version "
                + "0x\(hex(value.version)) (struct not fully initialised)"))
        }
        if let reason = ABITable.deviceHelpers.incompatibility(built: ABIVersion(rawValue: value.hlpVersion)) {
            return .failure(Refusal(status: VMH_ERR_VERSION_MISMATCH, kind: .abiMismatch, reason: "\(label): \(reason)"))
        }
        if value.construct == nil { return .failure(invalid("\(label): construct is NULL")) }
        if value.maxInstances == 0 { return .failure(invalid("\(label): maxInstances is 0")) }
        let unknownFlags = value.flags & ~VMH_DEVREG_F_VALID_MASK
        if unknownFlags != 0 {
            return .failure(invalid("\(label): unknown flag bits 0x\(hex(unknownFlags)) "
                + "(this host knows 0x\(hex(VMH_DEVREG_F_VALID_MASK)))"))
        }
        if value.instanceSize > maxInstanceSize {
            return .failure(invalid("\(label): instanceSize \(value.instanceSize) exceeds the limit of 8 MiB"))
        }
        if let slot = firstNonNullSlot(value.reserved) {
            return .failure(invalid("\(label): reserved slot \(slot) is not NULL"))
        }
        return .success(Accepted(name: name, summary: oneLine(value.description), flags: value.flags,
                                 order: value.order, maxInstances: value.maxInstances,
                                 instanceSize: value.instanceSize, helperVersion: ABIVersion(rawValue: value.hlpVersion)))
    }

    static func validateDriver(_ reg: UnsafePointer<VMHDriverReg>?) -> Result<Accepted, Refusal> {
        guard let reg else {
            return .failure(Refusal(status: VMH_ERR_INVALID_PARAMETER, kind: .invalidRegistration,
                                    reason: "registerDriver called with a NULL registration"))
        }
        let version = ABIVersion(rawValue: UnsafeRawPointer(reg).load(as: UInt32.self))
        if let refusal = versionRefusal(version, table: .driverRegistration, what: "driver") { return .failure(refusal) }
        let value = reg.pointee
        let name: String
        switch readName(value.name, what: "driver") {
        case .success(let valid): name = valid
        case .failure(let refusal): return .failure(refusal)
        }
        let label = "driver '\(name)'"
        if let reason = ABITable.driverRegistration.incompatibility(built: version) {
            return .failure(Refusal(status: VMH_ERR_VERSION_MISMATCH, kind: .abiMismatch, reason: "\(label): \(reason)"))
        }
        if value.versionEnd != value.version {
            return .failure(invalid("\(label): versionEnd 0x\(hex(value.versionEnd)) differs from version "
                + "0x\(hex(value.version)) (struct not fully initialised)"))
        }
        if let reason = ABITable.driverHelpers.incompatibility(built: ABIVersion(rawValue: value.hlpVersion)) {
            return .failure(Refusal(status: VMH_ERR_VERSION_MISMATCH, kind: .abiMismatch, reason: "\(label): \(reason)"))
        }
        if value.construct == nil { return .failure(invalid("\(label): construct is NULL")) }
        if value.maxInstances == 0 { return .failure(invalid("\(label): maxInstances is 0")) }
        let unknownFlags = value.flags & ~VMH_DRVREG_F_VALID_MASK
        if unknownFlags != 0 {
            return .failure(invalid("\(label): unknown flag bits 0x\(hex(unknownFlags)) "
                + "(this host knows 0x\(hex(VMH_DRVREG_F_VALID_MASK)))"))
        }
        if value.instanceSize > maxInstanceSize {
            return .failure(invalid("\(label): instanceSize \(value.instanceSize) exceeds the limit of 8 MiB"))
        }
        if value.reserved0 != 0 { return .failure(invalid("\(label): reserved0 is \(value.reserved0), must be 0")) }
        if let slot = firstNonNullSlot(value.reserved) {
            return .failure(invalid("\(label): reserved slot \(slot) is not NULL"))
        }
        return .success(Accepted(name: name, summary: oneLine(value.description), flags: value.flags, order: 0,
                                 maxInstances: value.maxInstances, instanceSize: value.instanceSize,
                                 helperVersion: ABIVersion(rawValue: value.hlpVersion)))
    }

    /// A refusal when magic or major differ (the layout is then unknown, so nothing else is read).
    private static func versionRefusal(_ version: ABIVersion, table: ABITable, what: String) -> Refusal? {
        let host = table.hostVersion
        guard version.magic != host.magic || version.major != host.major,
              let reason = table.incompatibility(built: version) else { return nil }
        return Refusal(status: VMH_ERR_VERSION_MISMATCH, kind: .abiMismatch, reason: "\(what) registration: \(reason)")
    }

    /// The name in a `char[VMH_NAME_MAX]`: NUL within the array, non-empty, `[A-Za-z][A-Za-z0-9_-]*`.
    private static func readName<T>(_ field: T, what: String) -> Result<String, Refusal> {
        let bytes = withUnsafeBytes(of: field) { Array($0) }
        guard let end = bytes.firstIndex(of: 0) else {
            return .failure(Refusal(status: VMH_ERR_INVALID_NAME, kind: .invalidRegistration,
                                    reason: "\(what) name '\(printable(bytes))' is not NUL-terminated within "
                                        + "\(bytes.count) bytes"))
        }
        let nameBytes = bytes[..<end]
        guard let first = nameBytes.first else {
            return .failure(Refusal(status: VMH_ERR_INVALID_NAME, kind: .invalidRegistration,
                                    reason: "\(what) registration has an empty name"))
        }
        let valid = isLetter(first) && nameBytes.allSatisfy { isLetter($0) || isDigit($0) || $0 == 0x5f || $0 == 0x2d }
        guard valid else {
            return .failure(Refusal(status: VMH_ERR_INVALID_NAME, kind: .invalidRegistration,
                                    reason: "\(what) name '\(printable(nameBytes))' is invalid (a letter, then "
                                        + "letters, digits, '_' or '-')"))
        }
        return .success(String(decoding: nameBytes, as: UTF8.self))
    }

    /// A plugin's description as one line for listings: control characters become spaces, at most 200 bytes are
    /// read (the pointer is the plugin's; a missing NUL must not run us through its memory).
    static func oneLine(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        var bytes: [UInt8] = []
        for index in 0..<200 {
            let byte = UInt8(bitPattern: text[index])
            if byte == 0 { break }
            bytes.append(byte < 0x20 || byte == 0x7f ? 0x20 : byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isLetter(_ byte: UInt8) -> Bool { (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte) }
    private static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

    /// Bytes as text for a message: printable ASCII as is, anything else as `\xNN`.
    static func printable<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        bytes.map { (0x20..<0x7f).contains($0) && $0 != 0x27 ? String(UnicodeScalar($0)) : "\\x" + hex2($0) }.joined()
    }

    private static func firstNonNullSlot<T>(_ slots: T) -> Int? {
        withUnsafeBytes(of: slots) { raw -> Int? in
            let words = raw.count / MemoryLayout<UInt>.size
            for index in 0..<words where raw.load(fromByteOffset: index * MemoryLayout<UInt>.size, as: UInt.self) != 0 {
                return index
            }
            return nil
        }
    }

    private static func invalid(_ reason: String) -> Refusal {
        Refusal(status: VMH_ERR_INVALID_PARAMETER, kind: .invalidRegistration, reason: reason)
    }

    private static func hex(_ value: UInt32) -> String { String(value, radix: 16) }
    private static func hex2(_ value: UInt8) -> String {
        let text = String(value, radix: 16)
        return text.count == 1 ? "0" + text : text
    }
}
