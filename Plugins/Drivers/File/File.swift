// File: a stream driver (VMH_IID_CHAR_CONNECTOR) that appends everything written to it to a file. Settings:
// `path` (required), `truncate` (bool, default false: append to what is there; true: start empty). Writes are
// write(2) calls (retrying short writes); flush and power-off fdatasync the file. Meant below a Char driver, whose
// I/O thread then does the writing. The file is created with mode 0644 when absent.
#if canImport(Glibc)
import Glibc
#endif
import PluginSDK

/// The File driver.
final class File: DriverPlugin, @unchecked Sendable {
    static let name = "File"
    static let description = "Char stream appending to a file (setting `path`)"
    static let maxInstances: UInt32 = 64

    private let context: DriverContext
    private let path: String
    private var fd: Int32 = -1
    private var connector: OfferedCharConnector?

    init(context: DriverContext, flags: UInt32) throws {
        self.context = context
        try context.config.validate(keys: ["path", "truncate"])
        path = try context.config.string("path")
        guard !path.isEmpty else { throw ConfigError.invalidValue(key: "path", message: "the path is empty") }
        let truncate = try context.config.bool("truncate", default: false)
        let mode = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND)
        fd = open(path, mode, 0o644)
        guard fd >= 0 else {
            throw PluginError(.io, "cannot open '\(path)' (setting `path`): \(String(cString: strerror(errno)))")
        }
        connector = context.offerCharConnector(write: { [unowned self] bytes in self.append(bytes) },
                                               flush: { [unowned self] in self.sync() })
    }

    func queryInterface(iid: InterfaceID) -> UnsafeMutableRawPointer? {
        connector?.answer(iid)
    }

    func powerOff() -> PowerResult {
        _ = sync()
        return .done
    }

    func destruct() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    private func append(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        guard let base = bytes.baseAddress, fd >= 0 else { return Int64(VMH_ERR_WRONG_STATE) }
        var done = 0
        while done < bytes.count {
            let n = write(fd, base + done, bytes.count - done)
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                if done == 0 {
                    context.log(.error, "writing to '\(path)' failed: \(String(cString: strerror(errno)))")
                    return Int64(VMH_ERR_IO)
                }
                break
            }
        }
        return Int64(done)
    }

    private func sync() -> PluginStatus {
        guard fd >= 0 else { return .wrongState }
        return fdatasync(fd) == 0 ? .ok : .io
    }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, drivers: [File.self])
}
