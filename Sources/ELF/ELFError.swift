/// Why an ELF file could not be read. Every message starts with the file it concerns.
public enum ELFError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file does not exist.
    case notFound(path: String)
    /// The file exists but could not be opened or read (permission, a directory, an I/O error).
    case unreadable(path: String, reason: String)
    /// The file does not start with the ELF magic.
    case notELF(path: String)
    /// The file ends before a structure its headers describe (the ELF header, a header table, a segment).
    case truncated(path: String, what: String)
    /// The file is ELF but a header holds a value this reader cannot accept (an unknown class, a bad table entry
    /// size, an out-of-range reference).
    case malformed(path: String, what: String)
    /// libelf refused the file; `message` is libelf's own text.
    case libelf(path: String, message: String)

    /// The file the error concerns.
    public var path: String {
        switch self {
        case .notFound(let path), .unreadable(let path, _), .notELF(let path), .truncated(let path, _),
             .malformed(let path, _), .libelf(let path, _):
            return path
        }
    }

    /// The reason, without the file name.
    public var reason: String {
        switch self {
        case .notFound: return "no such file"
        case .unreadable(_, let reason): return "cannot read: \(reason)"
        case .notELF: return "not an ELF file"
        case .truncated(_, let what): return "truncated: \(what)"
        case .malformed(_, let what): return "malformed ELF: \(what)"
        case .libelf(_, let message): return "libelf: \(message)"
        }
    }

    /// One line: `<file>: <reason>`.
    public var description: String { "\(path): \(reason)" }
}
