import CVMHostABI
import Glibc
import PDM
import Synchronization
import Testing

/// The suites that use the process-wide TestDisk driver, run one after the other.
@Suite(.serialized)
enum TestDiskSuites {}

/// A stub block medium ("TestDisk") registered in-process: offers `VMH_IID_BLOCK_CONNECTOR` over an in-memory
/// disk and keeps every submitted request pending until the test calls ``completePending(status:)`` (from the
/// test thread, i.e. never inside `submit`, as the interface requires). One instance at a time.
enum TestDiskDriver {
    static let name = "TestDisk"

    struct State {
        var disk: [UInt8] = []
        var readOnly = false
        /// Addresses of pending VMHBlockRequest structs (integers: the state lives in a Mutex).
        var pending: [Int] = []
        var submitted: [(op: UInt32, offset: UInt64, length: UInt64)] = []
        var instance = 0
        /// Misbehave on purpose: complete each request from inside `submit` (the interface forbids it).
        var completeInsideSubmit = false
        /// Misbehave worse: after completing inside `submit`, also return an error from it.
        var refuseAfterCompleting = false
    }
    private static let state = Mutex(State())

    /// A fresh disk of `size` bytes filled with `fill`.
    static func reset(size: Int, fill: UInt8 = 0, readOnly: Bool = false) {
        state.withLock { $0 = State(disk: [UInt8](repeating: fill, count: size), readOnly: readOnly) }
    }

    static var disk: [UInt8] { state.withLock { $0.disk } }

    /// From now on (until `reset`), complete every request from inside `submit`.
    static func completeInsideSubmit(thenRefuse: Bool = false) {
        state.withLock {
            $0.completeInsideSubmit = true
            $0.refuseAfterCompleting = thenRefuse
        }
    }
    static var pendingCount: Int { state.withLock { $0.pending.count } }
    static var submitted: [(op: UInt32, offset: UInt64, length: UInt64)] { state.withLock { $0.submitted } }

    static func setDisk(_ offset: Int, _ bytes: [UInt8]) {
        state.withLock { s in for (i, b) in bytes.enumerated() { s.disk[offset + i] = b } }
    }

    /// Performs every pending request against the disk and completes it to the layer above. Returns how many.
    @discardableResult
    static func completePending(status: Int32 = VMH_OK) -> Int {
        let (requests, instance) = state.withLock { s -> ([Int], Int) in
            defer { s.pending.removeAll() }
            return (s.pending, s.instance)
        }
        guard let ins = UnsafeMutablePointer<VMHDrvIns>(bitPattern: instance),
              let queryAbove = ins.pointee.hlp?.pointee.queryAbove,
              let raw = queryAbove(ins, VMH_IID_BLOCK_PORT) else { return 0 }
        let port = raw.assumingMemoryBound(to: VMHBlockPort.self)
        for address in requests {
            guard let request = UnsafeMutablePointer<VMHBlockRequest>(bitPattern: address) else { continue }
            if status == VMH_OK { perform(request) }
            port.pointee.complete?(port, request, status)
        }
        return requests.count
    }

    private static func perform(_ request: UnsafeMutablePointer<VMHBlockRequest>) {
        let r = request.pointee
        guard let buffer = r.buffer else { return }
        state.withLock { s in
            let at = Int(r.offset)
            for i in 0..<Int(r.length) {
                if r.op == VMH_BLOCK_OP_READ {
                    buffer.storeBytes(of: s.disk[at + i], toByteOffset: i, as: UInt8.self)
                } else if r.op == VMH_BLOCK_OP_WRITE {
                    s.disk[at + i] = buffer.load(fromByteOffset: i, as: UInt8.self)
                }
            }
        }
    }

    fileprivate static func submit(_ request: UnsafeMutablePointer<VMHBlockRequest>) -> Int32 {
        let r = request.pointee
        let (status, inline, refuse) = state.withLock { s -> (Int32, Bool, Bool) in
            if r.op != VMH_BLOCK_OP_FLUSH {
                guard r.offset + r.length <= UInt64(s.disk.count) else { return (VMH_ERR_OUT_OF_RANGE, false, false) }
                if r.op == VMH_BLOCK_OP_WRITE && s.readOnly { return (VMH_ERR_WRONG_STATE, false, false) }
            }
            s.submitted.append((r.op, r.offset, r.length))
            s.pending.append(Int(bitPattern: request))
            return (VMH_OK, s.completeInsideSubmit, s.refuseAfterCompleting)
        }
        if status == VMH_OK && inline {
            completePending()
            if refuse { return VMH_ERR_IO }
        }
        return status
    }

    static func register(in registry: PluginRegistry) throws {
        try registry.registerStatic(moduleName: "test-disk", entry: testDiskEntry)
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
            TestDiskDriver.state.withLock { $0.instance = address }
            return VMH_OK
        }
        reg.pointee.destruct = { _ in TestDiskDriver.state.withLock { $0.instance = 0 } }
        reg.pointee.queryInterface = { _, iid in
            guard let iid, strcmp(iid, VMH_IID_BLOCK_CONNECTOR) == 0 else { return nil }
            return UnsafeMutableRawPointer(TestDiskDriver.connector)
        }
        reg.pointee.versionEnd = reg.pointee.version
        return reg
    }()

    fileprivate nonisolated(unsafe) static let connector: UnsafeMutablePointer<VMHBlockConnector> = {
        let c = UnsafeMutablePointer<VMHBlockConnector>.allocate(capacity: 1)
        c.initialize(to: VMHBlockConnector())
        c.pointee.size = { _ in UInt64(TestDiskDriver.state.withLock { $0.disk.count }) }
        c.pointee.isReadOnly = { _ in TestDiskDriver.state.withLock { $0.readOnly } }
        c.pointee.submit = { _, request in
            guard let request else { return VMH_ERR_INVALID_PARAMETER }
            return TestDiskDriver.submit(request)
        }
        c.pointee.inFlight = { _ in UInt32(TestDiskDriver.state.withLock { $0.pending.count }) }
        return c
    }()
}

private let testDiskEntry: VMHPluginEntry = { registrar, _ in
    guard let registrar, let register = registrar.pointee.registerDriver else { return VMH_ERR_GENERAL }
    return register(registrar, TestDiskDriver.registration)
}
