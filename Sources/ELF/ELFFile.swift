import CLibElf

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A parsed ELF file: header, program headers, section headers, notes and dynamic symbols, plus the file's bytes
/// for reading segments.
///
/// Parsing uses libelf over an in-memory copy of the file and is done completely in the initialiser; every table
/// and every referenced range is checked against the file size, so a malformed or truncated file yields an
/// `ELFError` (never a crash). The value is immutable and `Sendable`.
public struct ELFFile: Sendable, CustomStringConvertible {
    /// The path (or name) the file was read from; every error message starts with it.
    public let path: String
    /// The whole file.
    public let contents: [UInt8]
    public let elfClass: ELFClass
    public let dataEncoding: ELFDataEncoding
    /// `EI_OSABI`.
    public let osABI: UInt8
    public let machine: ELFMachine
    public let type: ELFFileType
    /// `e_entry`.
    public let entry: UInt64
    public let programHeaders: [ELFProgramHeader]
    /// Section headers in table order (index 0, the null section, included when present).
    public let sections: [ELFSection]
    /// Notes of every SHT_NOTE section and every PT_NOTE segment, each note once (sections first, in file order).
    public let notes: [ELFNote]
    /// The `.dynsym` table (entry 0, the null symbol, left out). Empty when the file has none.
    public let dynamicSymbols: [ELFSymbol]

    /// Reads and parses the file at `path`.
    public init(path: String) throws(ELFError) {
        let bytes = try ELFFile.readFile(path)
        try self.init(contents: bytes, path: path)
    }

    /// Parses `contents`, naming it `path` in errors.
    public init(contents: [UInt8], path: String) throws(ELFError) {
        let parsed = try ELFParser.parse(contents, path: path)
        self.path = path
        self.contents = contents
        self.elfClass = parsed.elfClass
        self.dataEncoding = parsed.dataEncoding
        self.osABI = parsed.osABI
        self.machine = parsed.machine
        self.type = parsed.type
        self.entry = parsed.entry
        self.programHeaders = parsed.programHeaders
        self.sections = parsed.sections
        self.notes = parsed.notes
        self.dynamicSymbols = parsed.dynamicSymbols
    }

    /// A one-line summary (never the contents).
    public var description: String {
        "\(path): \(elfClass) \(dataEncoding) \(machine) \(type), \(programHeaders.count) program headers, "
            + "\(sections.count) sections, \(notes.count) notes, \(dynamicSymbols.count) dynamic symbols"
    }

    /// Size of the file in bytes.
    public var fileSize: UInt64 { UInt64(contents.count) }

    /// `count` bytes of the file from `offset`; `.truncated` when the range leaves the file.
    public func bytes(offset: UInt64, count: UInt64) throws(ELFError) -> ArraySlice<UInt8> {
        guard let range = ELFParser.range(offset: offset, count: count, within: contents.count) else {
            throw .truncated(path: path, what: "bytes [0x\(String(offset, radix: 16)), +0x\(String(count, radix: 16))) "
                + "lie beyond the end of the file (\(contents.count) bytes)")
        }
        return contents[range]
    }

    /// The file bytes of a segment (`p_filesz` bytes from `p_offset`). A loader copies them to `p_paddr` /
    /// `p_vaddr` and zero-fills up to `p_memsz`.
    public func bytes(of segment: ELFProgramHeader) throws(ELFError) -> ArraySlice<UInt8> {
        try bytes(offset: segment.offset, count: segment.fileSize)
    }

    /// The file bytes of a section (empty for SHT_NOBITS).
    public func bytes(of section: ELFSection) throws(ELFError) -> ArraySlice<UInt8> {
        if section.type == .noBits { return [] }
        return try bytes(offset: section.offset, count: section.size)
    }

    /// The first section called `name`.
    public func section(named name: String) -> ELFSection? {
        sections.first { $0.name == name }
    }

    /// The first dynamic symbol called `name` (defined or not).
    public func dynamicSymbol(named name: String) -> ELFSymbol? {
        dynamicSymbols.first { $0.name == name }
    }

    /// The notes with owner `owner` (and type `type` when given).
    public func notes(owner: String, type: UInt32? = nil) -> [ELFNote] {
        notes.filter { $0.owner == owner && (type == nil || $0.type == type) }
    }

    /// The program headers of type PT_LOAD, in table order.
    public var loadSegments: [ELFProgramHeader] { programHeaders.filter { $0.type == .load } }

    // MARK: - Reading the file

    private static func readFile(_ path: String) throws(ELFError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .notFound(path: path) }
            throw .unreadable(path: path, reason: errnoText(code))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: path, reason: errnoText(errno)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .unreadable(path: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                guard let base = buffer.baseAddress else { break }
                let n = read(fd, base + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }  // the file shrank while reading: keep what is there
                done += n
            }
            initialized = done
        }
        if failure != 0 { throw .unreadable(path: path, reason: errnoText(failure)) }
        return bytes
    }

    private static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
