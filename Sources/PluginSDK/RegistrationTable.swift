import Synchronization

/// The C registration structs this module built, and the Swift type behind each. A struct is built once per type,
/// never freed, and reused if the host calls the entry point again. Consulted only at registration and construct
/// (never on an I/O path).
final class RegistrationTable: Sendable {
    static let shared = RegistrationTable()

    /// Immutable after creation; the pointer and metatype are only read.
    private struct DeviceEntry: @unchecked Sendable {
        let type: any DevicePlugin.Type
        let reg: UnsafeMutablePointer<VMHDeviceReg>
    }

    /// Immutable after creation; the pointer and metatype are only read.
    private struct DriverEntry: @unchecked Sendable {
        let type: any DriverPlugin.Type
        let reg: UnsafeMutablePointer<VMHDriverReg>
    }

    private struct Tables: Sendable {
        var devices: [String: DeviceEntry] = [:]
        var drivers: [String: DriverEntry] = [:]
    }

    /// A metatype carried into the lock (metatypes of these protocols are not Sendable).
    private struct SendableType<T>: @unchecked Sendable {
        let type: T
    }

    private let tables = Mutex(Tables())

    /// The registration of `type`, built on first use.
    func deviceRegistration(for type: any DevicePlugin.Type) throws(PluginError) -> UnsafePointer<VMHDeviceReg> {
        let name = type.name
        try validateName(name, kind: "device")
        guard type.maxInstances > 0 else {
            throw PluginError(.invalidParameter, "device '\(name)' declares maxInstances 0")
        }
        guard type.flags.rawValue & ~VMH_DEVREG_F_VALID_MASK == 0 else {
            throw PluginError(.invalidParameter, "device '\(name)' declares unknown flags \(hex(type.flags.rawValue))")
        }
        let fresh = SendableType(type: type)
        let result: Result<DeviceEntry, PluginError> = tables.withLock { tables in
            if let entry = tables.devices[name] {
                guard ObjectIdentifier(entry.type) == ObjectIdentifier(fresh.type) else {
                    return .failure(PluginError(.alreadyExists, "two device types of this module are named '\(name)'"))
                }
                return .success(entry)
            }
            let entry = DeviceEntry(type: fresh.type, reg: makeDeviceRegistration(fresh.type))
            tables.devices[name] = entry
            return .success(entry)
        }
        return try UnsafePointer(result.get().reg)
    }

    /// The registration of `type`, built on first use.
    func driverRegistration(for type: any DriverPlugin.Type) throws(PluginError) -> UnsafePointer<VMHDriverReg> {
        let name = type.name
        try validateName(name, kind: "driver")
        guard type.maxInstances > 0 else {
            throw PluginError(.invalidParameter, "driver '\(name)' declares maxInstances 0")
        }
        let fresh = SendableType(type: type)
        let result: Result<DriverEntry, PluginError> = tables.withLock { tables in
            if let entry = tables.drivers[name] {
                guard ObjectIdentifier(entry.type) == ObjectIdentifier(fresh.type) else {
                    return .failure(PluginError(.alreadyExists, "two driver types of this module are named '\(name)'"))
                }
                return .success(entry)
            }
            let entry = DriverEntry(type: fresh.type, reg: makeDriverRegistration(fresh.type))
            tables.drivers[name] = entry
            return .success(entry)
        }
        return try UnsafePointer(result.get().reg)
    }

    /// The Swift type of the device registration `reg` (matched by address, else by name).
    func deviceType(for reg: UnsafePointer<VMHDeviceReg>?) -> (any DevicePlugin.Type)? {
        guard let reg else { return nil }
        let name = cName(reg.pointee.name)
        let address = UInt(bitPattern: reg)
        let entry: DeviceEntry? = tables.withLock { tables in
            tables.devices.values.first(where: { UInt(bitPattern: $0.reg) == address }) ?? tables.devices[name]
        }
        return entry?.type
    }

    /// The Swift type of the driver registration `reg` (matched by address, else by name).
    func driverType(for reg: UnsafePointer<VMHDriverReg>?) -> (any DriverPlugin.Type)? {
        guard let reg else { return nil }
        let name = cName(reg.pointee.name)
        let address = UInt(bitPattern: reg)
        let entry: DriverEntry? = tables.withLock { tables in
            tables.drivers.values.first(where: { UInt(bitPattern: $0.reg) == address }) ?? tables.drivers[name]
        }
        return entry?.type
    }
}

/// Registration names: `[A-Za-z][A-Za-z0-9_-]*`, shorter than `VMH_NAME_MAX`.
func validateName(_ name: String, kind: String) throws(PluginError) {
    let bytes = Array(name.utf8)
    func isLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) }
    func isNameByte(_ b: UInt8) -> Bool { isLetter(b) || (b >= 0x30 && b <= 0x39) || b == 0x5f || b == 0x2d }
    guard let first = bytes.first, isLetter(first), bytes.allSatisfy(isNameByte),
          bytes.count < Int(VMH_NAME_MAX)
    else {
        throw PluginError(.invalidName, "\(kind) name '\(name)' is not [A-Za-z][A-Za-z0-9_-]* of at most "
                          + "\(VMH_NAME_MAX - 1) bytes")
    }
}

/// The NUL-terminated contents of a fixed C name array.
func cName<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { bytes in
        String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}

/// Copies `name` (already validated) into a fixed C name array, NUL-padded.
func setCName<T>(_ tuple: inout T, _ name: String) {
    withUnsafeMutableBytes(of: &tuple) { bytes in
        for index in bytes.indices { bytes[index] = 0 }
        for (index, byte) in name.utf8.prefix(bytes.count - 1).enumerated() { bytes[index] = byte }
    }
}

/// A NUL-terminated copy of `text` that is never freed (registration descriptions live for the process).
func permanentCString(_ text: String) -> UnsafePointer<CChar> {
    let bytes = text.utf8CString
    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
    for (index, byte) in bytes.enumerated() { copy[index] = byte }
    return UnsafePointer(copy)
}

/// Bytes of instance data every SDK instance asks for: one pointer (the Unmanaged context).
let sdkInstanceSize = UInt32(MemoryLayout<UnsafeRawPointer>.size)

private func makeDeviceRegistration(_ type: any DevicePlugin.Type) -> UnsafeMutablePointer<VMHDeviceReg> {
    var reg = VMHDeviceReg()
    reg.version = ABIVersion.deviceRegistration
    reg.hlpVersion = ABIVersion.deviceHelpers
    setCName(&reg.name, type.name)
    reg.description = type.description.isEmpty ? nil : permanentCString(type.description)
    reg.flags = type.flags.rawValue
    reg.order = type.order.rawValue
    reg.maxInstances = type.maxInstances
    reg.instanceSize = sdkInstanceSize
    reg.construct = deviceConstruct
    reg.destruct = deviceDestruct
    reg.initComplete = deviceInitComplete
    reg.powerOn = devicePowerOn
    reg.reset = deviceReset
    reg.suspend = deviceSuspend
    reg.resume = deviceResume
    reg.powerOff = devicePowerOff
    reg.attach = deviceAttach
    reg.detach = deviceDetach
    reg.queryInterface = deviceQueryInterface
    reg.versionEnd = reg.version
    let pointer = UnsafeMutablePointer<VMHDeviceReg>.allocate(capacity: 1)
    pointer.initialize(to: reg)
    return pointer
}

private func makeDriverRegistration(_ type: any DriverPlugin.Type) -> UnsafeMutablePointer<VMHDriverReg> {
    var reg = VMHDriverReg()
    reg.version = ABIVersion.driverRegistration
    reg.hlpVersion = ABIVersion.driverHelpers
    setCName(&reg.name, type.name)
    reg.description = type.description.isEmpty ? nil : permanentCString(type.description)
    reg.flags = 0
    reg.maxInstances = type.maxInstances
    reg.instanceSize = sdkInstanceSize
    reg.construct = driverConstruct
    reg.destruct = driverDestruct
    reg.initComplete = driverInitComplete
    reg.powerOn = driverPowerOn
    reg.reset = driverReset
    reg.suspend = driverSuspend
    reg.resume = driverResume
    reg.powerOff = driverPowerOff
    reg.attach = driverAttach
    reg.detach = driverDetach
    reg.queryInterface = driverQueryInterface
    reg.versionEnd = reg.version
    let pointer = UnsafeMutablePointer<VMHDriverReg>.allocate(capacity: 1)
    pointer.initialize(to: reg)
    return pointer
}
