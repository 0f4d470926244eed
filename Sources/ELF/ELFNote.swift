/// One ELF note, from a PT_NOTE segment or an SHT_NOTE section.
public struct ELFNote: Hashable, Sendable {
    /// The owner ("GNU", "Xen", "VMHost"), without the terminating NUL.
    public let owner: String
    public let type: UInt32
    /// The descriptor bytes, exactly `descsz` long.
    public let desc: [UInt8]
    /// File offset of the note's header (identifies a note seen through both a segment and a section).
    public let fileOffset: UInt64
    /// The section the note was found in, when it came from a section.
    public let sectionName: String?
    /// Byte order of the file, for reading words out of `desc`.
    public let dataEncoding: ELFDataEncoding

    public init(owner: String, type: UInt32, desc: [UInt8], fileOffset: UInt64, sectionName: String?,
                dataEncoding: ELFDataEncoding) {
        self.owner = owner
        self.type = type
        self.desc = desc
        self.fileOffset = fileOffset
        self.sectionName = sectionName
        self.dataEncoding = dataEncoding
    }

    /// The 32-bit word at byte `offset` of the descriptor in the file's byte order, or nil when out of range.
    public func descUInt32(at offset: Int = 0) -> UInt32? {
        guard let value = ELFByteReader.unsigned(desc[...], at: offset, size: 4, encoding: dataEncoding) else {
            return nil
        }
        return UInt32(truncatingIfNeeded: value)
    }

    /// The 64-bit word at byte `offset` of the descriptor in the file's byte order, or nil when out of range.
    public func descUInt64(at offset: Int = 0) -> UInt64? {
        ELFByteReader.unsigned(desc[...], at: offset, size: 8, encoding: dataEncoding)
    }
}
