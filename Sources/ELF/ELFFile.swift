import CLibElf

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A parsed ELF file: header, program headers, section headers, notes and dynamic symbols, with the file kept
/// open for reading segments.
///
/// Parsing uses libelf reading from the file (only the headers and tables it needs, never the whole file) and
/// is done completely in the initialiser; every table and every referenced range is checked against the file
/// size, so a malformed or truncated file yields an `ELFError` (never a crash). The value is immutable and
/// `Sendable`; the file is closed when the last copy goes.
public struct ELFFile: Sendable, CustomStringConvertible {
    /// The path (or name) the file was read from; every error message starts with it.
    public let path: String
    /// The file's bytes, read on demand.
    private let source: ELFSource
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

    /// Opens and parses the file at `path`.
    public init(path: String) throws(ELFError) {
        try self.init(source: try ELFSource(path: path), path: path)
    }

    /// Parses an image in memory, naming it `path` in errors.
    public init(contents: [UInt8], path: String) throws(ELFError) {
        try self.init(source: ELFSource(bytes: contents), path: path)
    }

    private init(source: ELFSource, path: String) throws(ELFError) {
        let parsed = try ELFParser.parse(source, path: path)
        self.path = path
        self.source = source
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

    /// Size of the file in bytes (when it was opened).
    public var fileSize: UInt64 { source.size }

    /// `count` bytes of the file from `offset`; `.truncated` when the range leaves the file, `.unreadable` when
    /// the file has changed since it was opened (it no longer has them).
    public func bytes(offset: UInt64, count: UInt64) throws(ELFError) -> [UInt8] {
        guard ELFParser.range(offset: offset, count: count, within: Int(source.size)) != nil else {
            throw .truncated(path: path, what: "bytes [0x\(String(offset, radix: 16)), +0x\(String(count, radix: 16))) "
                + "lie beyond the end of the file (\(source.size) bytes)")
        }
        guard let bytes = source.read(offset: offset, count: count) else {
            throw .unreadable(path: path, reason: "bytes [0x\(String(offset, radix: 16)), +0x\(String(count, radix: 16))) "
                + "can no longer be read: the file changed after it was opened")
        }
        return bytes
    }

    /// The file bytes of a segment (`p_filesz` bytes from `p_offset`). A loader copies them to `p_paddr` /
    /// `p_vaddr` and zero-fills up to `p_memsz`.
    public func bytes(of segment: ELFProgramHeader) throws(ELFError) -> [UInt8] {
        try bytes(offset: segment.offset, count: segment.fileSize)
    }

    /// The file bytes of a section (empty for SHT_NOBITS).
    public func bytes(of section: ELFSection) throws(ELFError) -> [UInt8] {
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
}
