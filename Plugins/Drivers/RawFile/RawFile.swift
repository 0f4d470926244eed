// RawFile: the bottom of a block chain — a raw disk image file. Settings: `path` (required), `read-only` (bool,
// default false), `writethrough` (bool, default false: O_DSYNC, every write is durable before it completes). The
// medium size is the file size rounded down to 512 bytes.
//
// Offers VMH_IID_BLOCK_CONNECTOR: `submit` checks the request (range, alignment, read-only) and queues it; the
// driver's own I/O thread ("rawfile-io") runs pread / pwrite / fdatasync and completes each request through the
// VMH_IID_BLOCK_PORT of the layer above (resolved in initComplete). Suspend waits (async) until the queue is empty;
// power-off waits and then fdatasyncs the file, so every write completed to the guest is on disk.
#if canImport(Glibc)
import Glibc
#endif
import PluginSDK

/// The RawFile driver.
final class RawFile: DriverPlugin, @unchecked Sendable {
    static let name = "RawFile"
    static let description = "Raw disk image file (setting `path`); pread/pwrite/fdatasync on its own I/O thread"
    static let maxInstances: UInt32 = 64

    static let sectorSize: UInt64 = 512

    private let context: DriverContext
    private let path: String
    private let readOnly: Bool
    private let size: UInt64
    private var fd: Int32 = -1
    private var connector: OfferedBlockConnector?
    private var worker: WorkerThread?
    private let lock = ConditionLock()
    // Guarded by `lock`:
    private var queue: [UnsafeMutablePointer<VMHBlockRequest>] = []
    private var queueHead = 0
    /// Accepted and not yet completed (queued + the one being served).
    private var pending: UInt32 = 0
    private var stopping = false
    private var idleCompletion: AsyncCompletion?
    private var syncOnIdle = false
    private var above: BlockPort?

    init(context: DriverContext, flags: UInt32) throws {
        self.context = context
        try context.config.validate(keys: ["path", "read-only", "writethrough"])
        path = try context.config.string("path")
        readOnly = try context.config.bool("read-only", default: false)
        let writethrough = try context.config.bool("writethrough", default: false)
        fd = open(path, (readOnly ? O_RDONLY : O_RDWR | (writethrough ? O_DSYNC : 0)) | O_CLOEXEC)
        guard fd >= 0 else {
            throw PluginError(.io, "cannot open the image '\(path)' (setting `path`): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG || info.st_mode & S_IFMT == S_IFBLK else {
            close(fd)
            fd = -1
            throw PluginError(.io, "'\(path)' (setting `path`) is not a regular file or block device")
        }
        size = UInt64(max(0, info.st_size)) / Self.sectorSize * Self.sectorSize
        queue.reserveCapacity(1024)
        let connector = OfferedBlockConnector(
            size: { [unowned self] in self.size },
            readOnly: { [unowned self] in self.readOnly },
            submit: { [unowned self] request in self.submit(request) },
            inFlight: { [unowned self] in self.lock.withLock { self.pending } })
        context.offer(connector)
        self.connector = connector
        worker = try WorkerThread.start(name: "rawfile-io") { [unowned self] in self.run() }
    }

    func queryInterface(iid: InterfaceID) -> UnsafeMutableRawPointer? {
        connector?.answer(iid)
    }

    func initComplete() throws {
        let port = context.queryAbove(BlockPort.self)
        guard port != nil else {
            throw PluginError(.notSupported, "the device or driver above offers no \(InterfaceID.blockPort)")
        }
        lock.withLock { above = port }
    }

    func suspend() -> PowerResult { waitIdle(sync: false) }

    func powerOff() -> PowerResult { waitIdle(sync: true) }

    func destruct() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        worker?.join()
        worker = nil
        if fd >= 0 {
            if !readOnly { fdatasync(fd) }
            close(fd)
        }
        fd = -1
    }

    // MARK: Submission (any thread)

    private func submit(_ request: UnsafeMutablePointer<VMHBlockRequest>) -> PluginStatus {
        let r = request.pointee
        switch r.op {
        case VMH_BLOCK_OP_READ, VMH_BLOCK_OP_WRITE:
            guard r.offset % Self.sectorSize == 0, r.length % Self.sectorSize == 0, r.buffer != nil || r.length == 0
            else { return .invalidParameter }
            guard r.offset <= size, r.length <= size - r.offset else { return .outOfRange }
            if r.op == VMH_BLOCK_OP_WRITE && readOnly { return .wrongState }
        case VMH_BLOCK_OP_FLUSH:
            break
        default:
            return .notSupported
        }
        return lock.withLock {
            guard !stopping else { return PluginStatus.wrongState }
            queue.append(request)
            pending += 1
            lock.signal()
            return PluginStatus.ok
        }
    }

    // MARK: Power

    // fdatasync runs outside `lock`: a flush of a large page cache can take long, and `submit` (called under the
    // device's lock, on a vCPU) must not wait for it.
    private func waitIdle(sync: Bool) -> PowerResult {
        let idle = lock.withLock { () -> Bool in
            guard pending > 0 else { return true }
            context.log("waiting for \(pending) requests")
            syncOnIdle = sync
            idleCompletion = context.asyncCompletion()
            return false
        }
        guard idle else { return .pending }
        if sync && !readOnly && fd >= 0 { fdatasync(fd) }
        return .done
    }

    // MARK: The I/O thread

    private func run() {
        while true {
            let next: (UnsafeMutablePointer<VMHBlockRequest>, BlockPort?)? = lock.withLock {
                while queueHead == queue.count && !stopping { lock.wait() }
                guard queueHead < queue.count else { return nil }
                let request = queue[queueHead]
                queueHead += 1
                if queueHead == queue.count {
                    queue.removeAll(keepingCapacity: true)
                    queueHead = 0
                }
                return (request, above)
            }
            guard let (request, above) = next else { return }
            let status = perform(request)
            above?.complete(request, status: status)
            let idle = lock.withLock { () -> (AsyncCompletion, Bool)? in
                pending -= 1
                guard pending == 0, let completion = idleCompletion else { return nil }
                idleCompletion = nil
                return (completion, syncOnIdle && !readOnly)
            }
            if let (completion, sync) = idle {
                if sync { fdatasync(fd) }
                completion.complete()
            }
        }
    }

    private func perform(_ request: UnsafeMutablePointer<VMHBlockRequest>) -> PluginStatus {
        let r = request.pointee
        switch r.op {
        case VMH_BLOCK_OP_FLUSH:
            return readOnly || fdatasync(fd) == 0 ? .ok : .io
        case VMH_BLOCK_OP_READ, VMH_BLOCK_OP_WRITE:
            guard let buffer = r.buffer else { return r.length == 0 ? .ok : .invalidParameter }
            var done: UInt64 = 0
            while done < r.length {
                let at = off_t(r.offset + done)
                let count = Int(r.length - done)
                let n = r.op == VMH_BLOCK_OP_READ ? pread(fd, buffer + Int(done), count, at)
                                                   : pwrite(fd, buffer + Int(done), count, at)
                if n > 0 {
                    done += UInt64(n)
                } else if n < 0 && errno == EINTR {
                    continue
                } else if n == 0 && r.op == VMH_BLOCK_OP_READ {
                    // Past the end of a file that shrank: zeros, as an unwritten sparse region reads.
                    (buffer + Int(done)).initializeMemory(as: UInt8.self, repeating: 0, count: count)
                    done = r.length
                } else {
                    return .io
                }
            }
            return .ok
        default:
            return .notSupported
        }
    }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, drivers: [RawFile.self])
}
