#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the bytes of an `ELFFile` come from: the open file, read with `pread` only where asked (headers, notes,
/// the dynamic symbols; a segment when a loader copies it), or an image in memory.
///
/// Reading on demand is what keeps inspecting a plugin cheap: a Swift plugin is most of a megabyte, nearly all
/// code and debug information that the inspection never needs. A file that shrinks after it was opened gives
/// short reads, reported as errors, never a crash (a mapping would fault instead).
final class ELFSource: Sendable {
    private enum Storage: Sendable {
        case file(descriptor: Int32)
        case memory([UInt8])
    }

    private let storage: Storage
    /// Size in bytes when opened.
    let size: UInt64

    /// Opens the regular file at `path`. O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
    /// before the regular-file check could refuse it (the flag does not change reads of a regular file).
    init(path: String) throws(ELFError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .notFound(path: path) }
            throw .unreadable(path: path, reason: ELFSource.errnoText(code))
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw .unreadable(path: path, reason: ELFSource.errnoText(code))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .unreadable(path: path, reason: "not a regular file")
        }
        storage = .file(descriptor: fd)
        size = UInt64(info.st_size)
    }

    /// An image in memory.
    init(bytes: [UInt8]) {
        storage = .memory(bytes)
        size = UInt64(bytes.count)
    }

    deinit {
        if case let .file(fd) = storage { close(fd) }
    }

    /// The descriptor, for libelf to read from itself; nil for an image in memory.
    var descriptor: Int32? {
        if case let .file(fd) = storage { return fd }
        return nil
    }

    /// The image, for an in-memory source.
    var memory: [UInt8]? {
        if case let .memory(bytes) = storage { return bytes }
        return nil
    }

    /// `count` bytes from `offset`; nil when the range leaves the file as it was opened, or the file no longer
    /// has them (it shrank) or cannot be read.
    func read(offset: UInt64, count: UInt64) -> [UInt8]? {
        guard offset <= size, count <= size - offset, count <= UInt64(Int.max) else { return nil }
        switch storage {
        case let .memory(bytes):
            return Array(bytes[Int(offset)..<Int(offset + count)])
        case let .file(fd):
            var complete = true
            let result = [UInt8](unsafeUninitializedCapacity: Int(count)) { buffer, initialized in
                var done = 0
                while done < buffer.count, let base = buffer.baseAddress {
                    let n = pread(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
                    if n < 0, errno == EINTR { continue }
                    if n <= 0 {
                        complete = false
                        break
                    }
                    done += n
                }
                initialized = done
            }
            return complete ? result : nil
        }
    }

    static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
