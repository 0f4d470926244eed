/// The kind of a segment (`p_type`).
public struct ELFSegmentType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let null = ELFSegmentType(rawValue: 0)
    public static let load = ELFSegmentType(rawValue: 1)
    public static let dynamic = ELFSegmentType(rawValue: 2)
    public static let interpreter = ELFSegmentType(rawValue: 3)
    public static let note = ELFSegmentType(rawValue: 4)
    public static let programHeaders = ELFSegmentType(rawValue: 6)
    public static let tls = ELFSegmentType(rawValue: 7)
    public static let gnuEHFrame = ELFSegmentType(rawValue: 0x6474_e550)
    public static let gnuStack = ELFSegmentType(rawValue: 0x6474_e551)
    public static let gnuRelRO = ELFSegmentType(rawValue: 0x6474_e552)
    public static let gnuProperty = ELFSegmentType(rawValue: 0x6474_e553)

    public var description: String {
        switch self {
        case .null: return "PT_NULL"
        case .load: return "PT_LOAD"
        case .dynamic: return "PT_DYNAMIC"
        case .interpreter: return "PT_INTERP"
        case .note: return "PT_NOTE"
        case .programHeaders: return "PT_PHDR"
        case .tls: return "PT_TLS"
        case .gnuEHFrame: return "PT_GNU_EH_FRAME"
        case .gnuStack: return "PT_GNU_STACK"
        case .gnuRelRO: return "PT_GNU_RELRO"
        case .gnuProperty: return "PT_GNU_PROPERTY"
        default: return "segment type 0x\(String(rawValue, radix: 16))"
        }
    }
}

/// Access rights of a segment (`p_flags`).
public struct ELFSegmentFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let execute = ELFSegmentFlags(rawValue: 1)
    public static let write = ELFSegmentFlags(rawValue: 2)
    public static let read = ELFSegmentFlags(rawValue: 4)
}

/// One program header: a segment as the loader sees it.
public struct ELFProgramHeader: Hashable, Sendable {
    /// Position in the program header table.
    public let index: Int
    public let type: ELFSegmentType
    public let flags: ELFSegmentFlags
    /// File offset of the segment's first byte.
    public let offset: UInt64
    public let virtualAddress: UInt64
    public let physicalAddress: UInt64
    /// Bytes of the segment present in the file.
    public let fileSize: UInt64
    /// Bytes of the segment in memory (≥ fileSize for a valid PT_LOAD; the rest is zero-filled).
    public let memorySize: UInt64
    public let alignment: UInt64

    public init(index: Int, type: ELFSegmentType, flags: ELFSegmentFlags, offset: UInt64, virtualAddress: UInt64,
                physicalAddress: UInt64, fileSize: UInt64, memorySize: UInt64, alignment: UInt64) {
        self.index = index
        self.type = type
        self.flags = flags
        self.offset = offset
        self.virtualAddress = virtualAddress
        self.physicalAddress = physicalAddress
        self.fileSize = fileSize
        self.memorySize = memorySize
        self.alignment = alignment
    }
}
