/// The kind of a section (`sh_type`).
public struct ELFSectionType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let null = ELFSectionType(rawValue: 0)
    public static let programBits = ELFSectionType(rawValue: 1)
    public static let symbolTable = ELFSectionType(rawValue: 2)
    public static let stringTable = ELFSectionType(rawValue: 3)
    public static let relocationsWithAddends = ELFSectionType(rawValue: 4)
    public static let hash = ELFSectionType(rawValue: 5)
    public static let dynamic = ELFSectionType(rawValue: 6)
    public static let note = ELFSectionType(rawValue: 7)
    public static let noBits = ELFSectionType(rawValue: 8)
    public static let relocations = ELFSectionType(rawValue: 9)
    public static let dynamicSymbols = ELFSectionType(rawValue: 11)

    public var description: String {
        switch self {
        case .null: return "SHT_NULL"
        case .programBits: return "SHT_PROGBITS"
        case .symbolTable: return "SHT_SYMTAB"
        case .stringTable: return "SHT_STRTAB"
        case .relocationsWithAddends: return "SHT_RELA"
        case .hash: return "SHT_HASH"
        case .dynamic: return "SHT_DYNAMIC"
        case .note: return "SHT_NOTE"
        case .noBits: return "SHT_NOBITS"
        case .relocations: return "SHT_REL"
        case .dynamicSymbols: return "SHT_DYNSYM"
        default: return "section type 0x\(String(rawValue, radix: 16))"
        }
    }
}

/// Attributes of a section (`sh_flags`).
public struct ELFSectionFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let write = ELFSectionFlags(rawValue: 0x1)
    public static let alloc = ELFSectionFlags(rawValue: 0x2)
    public static let execute = ELFSectionFlags(rawValue: 0x4)
    public static let merge = ELFSectionFlags(rawValue: 0x10)
    public static let strings = ELFSectionFlags(rawValue: 0x20)
    public static let tls = ELFSectionFlags(rawValue: 0x400)
}

/// One section header.
public struct ELFSection: Hashable, Sendable {
    /// Position in the section header table.
    public let index: Int
    /// The name from the section-name string table ("" when it has none or the reference is bad).
    public let name: String
    public let type: ELFSectionType
    public let flags: ELFSectionFlags
    public let address: UInt64
    public let offset: UInt64
    public let size: UInt64
    /// `sh_link`: the index of a related section (e.g. the string table of a symbol table).
    public let link: UInt32
    /// `sh_addralign`.
    public let alignment: UInt64
    /// `sh_entsize`: size of one entry for table sections, else 0.
    public let entrySize: UInt64

    public init(index: Int, name: String, type: ELFSectionType, flags: ELFSectionFlags, address: UInt64,
                offset: UInt64, size: UInt64, link: UInt32 = 0, alignment: UInt64 = 0, entrySize: UInt64 = 0) {
        self.index = index
        self.name = name
        self.type = type
        self.flags = flags
        self.address = address
        self.offset = offset
        self.size = size
        self.link = link
        self.alignment = alignment
        self.entrySize = entrySize
    }
}
