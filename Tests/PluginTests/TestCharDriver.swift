import CVMHostABI
import Glibc
import PDM
import Synchronization
import Testing

/// The suites that use the process-wide TestChar driver, run one after the other.
@Suite(.serialized)
enum TestCharSuites {}

/// A char stream driver ("TestChar") registered in-process for the char-chain tests: offers
/// `VMH_IID_CHAR_CONNECTOR`, keeps what is written to it, can refuse bytes (to exercise flow control), and injects
/// input through the `VMH_IID_CHAR_PORT` of whatever sits above it. One instance at a time (the suites using it
/// are serialized and each test constructs its own harness).
enum TestCharDriver {
    static let name = "TestChar"

    struct State {
        var bytes: [UInt8] = []
        /// Bytes accepted per write call; nil = all.
        var acceptPerWrite: Int?
        var writeCalls = 0
        var flushCalls = 0
        /// The instance's address (an integer: the state lives in a Mutex).
        var instance: Int = 0
    }
    private static let state = Mutex(State())

    /// Forgets everything and accepts all bytes again.
    static func reset() { state.withLock { $0 = State() } }

    /// Everything written so far.
    static var bytes: [UInt8] { state.withLock { $0.bytes } }
    static var text: String { String(decoding: bytes, as: UTF8.self) }
    static var flushCalls: Int { state.withLock { $0.flushCalls } }

    /// Accept at most `n` bytes per write (0 = refuse everything; nil = accept all).
    static func accept(_ n: Int?) { state.withLock { $0.acceptPerWrite = n } }

    /// Delivers `bytes` to the char port above this driver; returns what that port accepted (or nil when there is
    /// no instance or no port above).
    static func inject(_ bytes: [UInt8]) -> Int64? {
        guard let ins = UnsafeMutablePointer<VMHDrvIns>(bitPattern: state.withLock({ $0.instance })),
              let queryAbove = ins.pointee.hlp?.pointee.queryAbove,
              let raw = queryAbove(ins, VMH_IID_CHAR_PORT) else { return nil }
        let port = raw.assumingMemoryBound(to: VMHCharPort.self)
        return bytes.withUnsafeBytes { port.pointee.receive?(port, $0.baseAddress, $0.count) }
    }

    fileprivate static func write(_ buffer: UnsafeRawBufferPointer) -> Int64 {
        state.withLock { s in
            s.writeCalls += 1
            let n = min(buffer.count, s.acceptPerWrite ?? buffer.count)
            s.bytes.append(contentsOf: buffer.prefix(n))
            return Int64(n)
        }
    }

    /// Registers the driver with `registry`.
    static func register(in registry: PluginRegistry) throws {
        try registry.registerStatic(moduleName: "test-char", entry: testCharEntry)
    }

    fileprivate nonisolated(unsafe) static let registration: UnsafeMutablePointer<VMHDriverReg> = {
        let reg = UnsafeMutablePointer<VMHDriverReg>.allocate(capacity: 1)
        reg.initialize(to: VMHDriverReg())
        reg.pointee.version = testVersion(0xa020, 1, 0)
        reg.pointee.hlpVersion = testVersion(0xa022, 1, 0)
        withUnsafeMutableBytes(of: &reg.pointee.name) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            for (i, c) in name.utf8.enumerated() { raw[i] = c }
        }
        reg.pointee.maxInstances = 1
        reg.pointee.construct = { ins, _ in
            let address = Int(bitPattern: ins)
            TestCharDriver.state.withLock { $0.instance = address }
            return VMH_OK
        }
        reg.pointee.destruct = { _ in TestCharDriver.state.withLock { $0.instance = 0 } }
        reg.pointee.queryInterface = { _, iid in
            guard let iid, strcmp(iid, VMH_IID_CHAR_CONNECTOR) == 0 else { return nil }
            return UnsafeMutableRawPointer(TestCharDriver.connector)
        }
        reg.pointee.versionEnd = reg.pointee.version
        return reg
    }()

    fileprivate nonisolated(unsafe) static let connector: UnsafeMutablePointer<VMHCharConnector> = {
        let c = UnsafeMutablePointer<VMHCharConnector>.allocate(capacity: 1)
        c.initialize(to: VMHCharConnector())
        c.pointee.write = { _, buf, size in
            guard let buf else { return Int64(VMH_ERR_INVALID_PARAMETER) }
            return TestCharDriver.write(UnsafeRawBufferPointer(start: buf, count: size))
        }
        c.pointee.flush = { _ in
            TestCharDriver.state.withLock { $0.flushCalls += 1 }
            return VMH_OK
        }
        return c
    }()
}

/// VMH_VERSION_MAKE (a function-like macro Swift cannot import).
func testVersion(_ magic: UInt32, _ major: UInt32, _ minor: UInt32) -> UInt32 {
    (magic & 0xffff) << 16 | (major & 0xff) << 8 | (minor & 0xff)
}

private let testCharEntry: VMHPluginEntry = { registrar, _ in
    guard let registrar, let register = registrar.pointee.registerDriver else { return VMH_ERR_GENERAL }
    return register(registrar, TestCharDriver.registration)
}
