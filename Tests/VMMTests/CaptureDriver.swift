import CVMHostABI
import Glibc
import PDM
import Synchronization

/// A char driver ("TestCapture") registered in-process for tests: offers `VMH_IID_CHAR_CONNECTOR` and keeps
/// every byte written to it, so a test can read what the guest sent through a real UART device plugin.
enum CaptureDriver {
    static let name = "TestCapture"
    private static let bytes = Mutex<[UInt8]>([])

    /// Everything captured so far, as text.
    static var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }

    static func clear() { bytes.withLock { $0.removeAll() } }

    fileprivate static func append(_ buffer: UnsafeRawBufferPointer) {
        bytes.withLock { $0.append(contentsOf: buffer) }
    }

    /// Registers the driver with `registry` (once per registry).
    static func register(in registry: PluginRegistry) throws {
        try registry.registerStatic(moduleName: "test-capture", entry: captureEntry)
    }

    /// The registration (stable for the process lifetime).
    fileprivate nonisolated(unsafe) static let registration: UnsafeMutablePointer<VMHDriverReg> = {
        let reg = UnsafeMutablePointer<VMHDriverReg>.allocate(capacity: 1)
        reg.initialize(to: VMHDriverReg())
        reg.pointee.version = vmhDrvRegVersion
        reg.pointee.hlpVersion = vmhDrvHlpVersion
        withUnsafeMutableBytes(of: &reg.pointee.name) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            for (i, c) in name.utf8.enumerated() { raw[i] = c }
        }
        reg.pointee.description = nil
        reg.pointee.flags = 0
        reg.pointee.maxInstances = 8
        reg.pointee.instanceSize = 0
        reg.pointee.construct = { _, _ in VMH_OK }
        reg.pointee.queryInterface = { _, iid in
            guard let iid, strcmp(iid, VMH_IID_CHAR_CONNECTOR) == 0 else { return nil }
            return UnsafeMutableRawPointer(CaptureDriver.connector)
        }
        reg.pointee.versionEnd = vmhDrvRegVersion
        return reg
    }()

    fileprivate nonisolated(unsafe) static let connector: UnsafeMutablePointer<VMHCharConnector> = {
        let c = UnsafeMutablePointer<VMHCharConnector>.allocate(capacity: 1)
        c.initialize(to: VMHCharConnector())
        c.pointee.write = { _, buf, size in
            guard let buf else { return Int64(VMH_ERR_INVALID_PARAMETER) }
            CaptureDriver.append(UnsafeRawBufferPointer(start: buf, count: size))
            return Int64(size)
        }
        c.pointee.flush = { _ in VMH_OK }
        return c
    }()
}

// VMH_VERSION_MAKE is a function-like macro Swift cannot import.
private func vmhVersion(_ magic: UInt32, _ major: UInt32, _ minor: UInt32) -> UInt32 {
    (magic & 0xffff) << 16 | (major & 0xff) << 8 | (minor & 0xff)
}
private let vmhDrvRegVersion = vmhVersion(0xa020, 1, 0)
private let vmhDrvHlpVersion = vmhVersion(0xa022, 1, 0)

private let captureEntry: VMHPluginEntry = { registrar, _ in
    guard let registrar, let register = registrar.pointee.registerDriver else { return VMH_ERR_GENERAL }
    return register(registrar, CaptureDriver.registration)
}
