// Stdio: a char driver (VMH_IID_CHAR_CONNECTOR) whose writes go to the vmhost process's stdout or stderr
// (setting `stream`: "stdout" (default) or "stderr"). Flush does nothing: write(2) is unbuffered.
#if canImport(Glibc)
import Glibc
#endif
import PluginSDK

/// The Stdio driver.
final class Stdio: DriverPlugin {
    static let name = "Stdio"
    static let description = "Char connector writing to stdout or stderr"
    static let maxInstances: UInt32 = 16

    init(context: DriverContext, flags: UInt32) throws {
        try context.config.validate(keys: ["stream"])
        let stream = try context.config.string("stream", default: "stdout", oneOf: ["stdout", "stderr"])
        let fd: Int32 = stream == "stderr" ? STDERR_FILENO : STDOUT_FILENO
        // The SDK answers VMH_IID_CHAR_CONNECTOR queries with this connector.
        context.offerCharConnector(write: { bytes in writeAll(fd, bytes) })
    }
}

/// Writes every byte of `bytes` to `fd` (retrying short writes and EINTR); the count written, or VMH_ERR_IO when
/// nothing could be written.
private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int64 {
    guard let base = bytes.baseAddress else { return 0 }
    var done = 0
    while done < bytes.count {
        let n = write(fd, base + done, bytes.count - done)
        if n > 0 {
            done += n
        } else if n < 0 && errno == EINTR {
            continue
        } else {
            return done > 0 ? Int64(done) : Int64(VMH_ERR_IO)
        }
    }
    return Int64(done)
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, drivers: [Stdio.self])
}
