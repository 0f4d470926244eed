#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Reads a whole (small) text file; errors carry the errno text.
func readTextFile(_ path: String, limit: Int = 16 << 20) throws -> String {
    let fd = try FileDescriptor.open(FilePath(path), .readOnly)
    defer { try? fd.close() }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
        if n == 0 { break }
        bytes += chunk[0..<n]
        if bytes.count > limit { throw Errno.fileTooLarge }
    }
    return String(decoding: bytes, as: UTF8.self)
}
