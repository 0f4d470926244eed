#if canImport(Glibc)
import Glibc
#endif

/// Where the running executable is: the build puts `vmhost`, the plugin products and `libVMHostYAML.so` in one
/// folder, so the host, the test kit and the benchmarks all look next to themselves.
public enum ExecutableLocation {
    /// The folder holding the running executable (`/proc/self/exe`), nil if it cannot be read.
    public static var directory: String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
