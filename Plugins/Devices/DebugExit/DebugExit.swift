// DebugExit: a QEMU isa-debug-exit compatible device (see DEVICE-SPECS.md). A guest write of value v (any size)
// asks the VM to power off and vmhost to exit with status (v << 1) | 1; reads give all-ones.
// Settings: `iobase` (default 0x501), `iosize` (default 2).
import PluginSDK

/// The DebugExit device.
final class DebugExit: DevicePlugin {
    static let name = "DebugExit"
    static let description = "isa-debug-exit: a guest write of v powers off, vmhost exits with (v << 1) | 1"
    static let order = DeviceOrder.misc

    private let context: DeviceContext

    init(context: DeviceContext) throws {
        self.context = context
        try context.config.validate(keys: ["iobase", "iosize"])
        let base = try context.config.integer("iobase", as: UInt16.self, default: 0x501)
        let size = try context.config.integer("iosize", as: UInt16.self, default: 2, in: 1...0x100)
        guard Int(base) + Int(size) <= 0x10000 else {
            throw ConfigError.invalidValue(key: "iosize", message: "iobase \(base) + iosize \(size) passes port 0xffff")
        }
        try context.registerPorts(base: base, count: size, description: "debug exit",
                                  read: { _, size in allOnes(size) }, write: guestWrite)
    }

    /// A guest write: the value (of the access size) becomes the exit status (v << 1) | 1.
    private func guestWrite(offset: UInt16, size: Int, value: UInt32) {
        let v = UInt64(value & allOnes(size))
        context.vmPowerOff(exitStatus: Int32(truncatingIfNeeded: (v << 1) | 1))
    }
}

/// All-ones for an access of `size` bytes.
@inline(__always)
func allOnes(_ size: Int) -> UInt32 {
    size >= 4 ? UInt32.max : (UInt32(1) << (UInt32(size) * 8)) &- 1
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, devices: [DebugExit.self])
}
