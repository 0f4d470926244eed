import CVMHostABI

/// Builds registration structs for in-process test plugins (stub devices and drivers written in a test and
/// registered with `PluginTestHarness.registerStatic`). The structs get the versions of the ABI this kit was built
/// with, a valid name, and are allocated once and never freed, as the registry requires.
///
///     nonisolated(unsafe) let myStub = StaticRegistrations.driver(name: "MyStub") { reg in
///         reg.construct = { ins, _ in VMH_OK }
///     }
///     let entry: VMHPluginEntry = { r, _ in r!.pointee.registerDriver(r, myStub) }
public enum StaticRegistrations {
    static func version(_ magic: UInt32) -> UInt32 { (magic << 16) | (1 << 8) }

    /// A device registration named `name`; `configure` sets the callbacks (and may change any field).
    public static func device(name: String, flags: UInt32 = 0, order: UInt32 = UInt32(VMH_DEVORDER_MISC),
                              maxInstances: UInt32 = 64, instanceSize: UInt32 = 64,
                              configure: (inout VMHDeviceReg) -> Void) -> UnsafePointer<VMHDeviceReg> {
        var reg = VMHDeviceReg()
        reg.version = version(0xa010)
        reg.versionEnd = reg.version
        reg.hlpVersion = version(0xa012)
        setRegistrationName(&reg.name, name)
        reg.flags = flags
        reg.order = order
        reg.maxInstances = maxInstances
        reg.instanceSize = instanceSize
        configure(&reg)
        let pointer = UnsafeMutablePointer<VMHDeviceReg>.allocate(capacity: 1)
        pointer.initialize(to: reg)
        return UnsafePointer(pointer)
    }

    /// A driver registration named `name`; `configure` sets the callbacks.
    public static func driver(name: String, maxInstances: UInt32 = 256, instanceSize: UInt32 = 64,
                              configure: (inout VMHDriverReg) -> Void) -> UnsafePointer<VMHDriverReg> {
        var reg = VMHDriverReg()
        reg.version = version(0xa020)
        reg.versionEnd = reg.version
        reg.hlpVersion = version(0xa022)
        setRegistrationName(&reg.name, name)
        reg.maxInstances = maxInstances
        reg.instanceSize = instanceSize
        configure(&reg)
        let pointer = UnsafeMutablePointer<VMHDriverReg>.allocate(capacity: 1)
        pointer.initialize(to: reg)
        return UnsafePointer(pointer)
    }
}

/// Copies `name` (truncated to fit, NUL-terminated) into a fixed C char array.
func setRegistrationName<T>(_ tuple: inout T, _ name: String) {
    withUnsafeMutableBytes(of: &tuple) { raw in
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        for (i, b) in name.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
    }
}
