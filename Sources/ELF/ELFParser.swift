import CLibElf

/// libelf must be told which ELF version the caller speaks before any other call; done once per process.
private let libelfInitialised: Bool = elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE)

/// The parse of one file; turns libelf's structures into the Swift values of `ELFFile`.
struct ELFParser {
    struct Result {
        var elfClass: ELFClass
        var dataEncoding: ELFDataEncoding
        var osABI: UInt8
        var machine: ELFMachine
        var type: ELFFileType
        var entry: UInt64
        var programHeaders: [ELFProgramHeader] = []
        var sections: [ELFSection] = []
        var notes: [ELFNote] = []
        var dynamicSymbols: [ELFSymbol] = []
    }

    let path: String
    let source: ELFSource
    /// The file's size in bytes, the bound of every range checked here.
    private var size: Int { Int(source.size) }

    /// `offset..<offset+count` as Int indices when it lies within `size` bytes (overflow-safe).
    static func range(offset: UInt64, count: UInt64, within size: Int) -> Range<Int>? {
        let size = UInt64(size)
        guard offset <= size, count <= size - offset else { return nil }
        return Int(offset)..<Int(offset + count)
    }

    static func parse(_ source: ELFSource, path: String) throws(ELFError) -> Result {
        try ELFParser(path: path, source: source).run()
    }

    private func libelfError(_ context: String) -> ELFError {
        let message = elf_errmsg(-1).map { String(cString: $0) } ?? "unknown error"
        return .libelf(path: path, message: "\(context): \(message)")
    }

    private func run() throws(ELFError) -> Result {
        // Identification, checked by hand so the common refusals get precise messages.
        let magic: [UInt8] = [0x7f, 0x45, 0x4c, 0x46]
        guard let ident = source.read(offset: 0, count: min(source.size, 64)) else {
            throw .unreadable(path: path, reason: "the file cannot be read (did it change?)")
        }
        guard ident.count >= 4, Array(ident[0..<4]) == magic else { throw .notELF(path: path) }
        guard ident.count >= 16 else {
            throw .truncated(path: path, what: "ELF identification (\(ident.count) of 16 bytes)")
        }
        guard let elfClass = ELFClass(rawValue: ident[4]) else {
            throw .malformed(path: path, what: "unknown ELF class \(ident[4]) (EI_CLASS)")
        }
        guard let encoding = ELFDataEncoding(rawValue: ident[5]) else {
            throw .malformed(path: path, what: "unknown data encoding \(ident[5]) (EI_DATA)")
        }
        let headerSize = elfClass == .elf64 ? 64 : 52
        guard ident.count >= headerSize else {
            throw .truncated(path: path, what: "ELF header (\(ident.count) of \(headerSize) bytes)")
        }
        guard libelfInitialised else { throw .libelf(path: path, message: "libelf refuses EV_CURRENT") }

        if let descriptor = source.descriptor {
            // ELF_C_READ: libelf reads (pread) only the parts asked for, never the whole file.
            guard let elf = elf_begin(descriptor, ELF_C_READ, nil) else { throw libelfError("elf_begin") }
            defer { elf_end(elf) }
            return try parse(elf: elf, elfClass: elfClass, encoding: encoding, osABI: ident[7])
        }
        var work = source.memory ?? []  // libelf takes a mutable image; give it a private copy
        let parsed: Swift.Result<Result, ELFError> = work.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return .failure(.truncated(path: path, what: "empty file")) }
            guard let elf = elf_memory(base.assumingMemoryBound(to: CChar.self), raw.count) else {
                return .failure(libelfError("elf_memory"))
            }
            defer { elf_end(elf) }
            do throws(ELFError) {
                return .success(try parse(elf: elf, elfClass: elfClass, encoding: encoding, osABI: ident[7]))
            } catch {
                return .failure(error)
            }
        }
        return try parsed.get()
    }

    private func parse(elf: OpaquePointer, elfClass: ELFClass, encoding: ELFDataEncoding, osABI: UInt8)
        throws(ELFError) -> Result
    {
        guard elf_kind(elf) == ELF_K_ELF else { throw .notELF(path: path) }
        var header = GElf_Ehdr()
        guard gelf_getehdr(elf, &header) != nil else { throw libelfError("ELF header") }
        var result = Result(elfClass: elfClass, dataEncoding: encoding, osABI: osABI,
                            machine: ELFMachine(rawValue: header.e_machine),
                            type: ELFFileType(rawValue: header.e_type), entry: header.e_entry)
        result.programHeaders = try programHeaders(elf: elf, header: header, elfClass: elfClass)
        result.sections = try sections(elf: elf, header: header, elfClass: elfClass)
        result.notes = try notes(sections: result.sections, segments: result.programHeaders, encoding: encoding)
        result.dynamicSymbols = try dynamicSymbols(elf: elf, sections: result.sections, elfClass: elfClass)
        return result
    }

    // MARK: Program headers

    private func programHeaders(elf: OpaquePointer, header: GElf_Ehdr, elfClass: ELFClass)
        throws(ELFError) -> [ELFProgramHeader]
    {
        let entrySize = elfClass == .elf64 ? 56 : 32
        if header.e_phnum != 0 {
            let declared = header.e_phnum == 0xffff ? 1 : UInt64(header.e_phnum)  // PN_XNUM: count in section 0
            guard ELFParser.range(offset: header.e_phoff, count: declared * UInt64(entrySize),
                                  within: size) != nil else {
                throw .truncated(path: path, what: "program header table (\(header.e_phnum) entries at offset "
                    + "0x\(String(header.e_phoff, radix: 16))) ends beyond the file (\(size) bytes)")
            }
        }
        var count = 0
        guard elf_getphdrnum(elf, &count) == 0 else { throw libelfError("program header count") }
        if count == 0 { return [] }
        guard Int(header.e_phentsize) == entrySize else {
            throw .malformed(path: path, what: "program header entry size \(header.e_phentsize), expected \(entrySize)")
        }
        guard ELFParser.range(offset: header.e_phoff, count: UInt64(count) * UInt64(entrySize),
                              within: size) != nil else {
            throw .truncated(path: path, what: "program header table (\(count) entries at offset "
                + "0x\(String(header.e_phoff, radix: 16))) ends beyond the file (\(size) bytes)")
        }
        var headers: [ELFProgramHeader] = []
        headers.reserveCapacity(count)
        for index in 0..<count {
            var phdr = GElf_Phdr()
            guard gelf_getphdr(elf, Int32(index), &phdr) != nil else {
                throw libelfError("program header \(index)")
            }
            let segment = ELFProgramHeader(
                index: index, type: ELFSegmentType(rawValue: phdr.p_type), flags: ELFSegmentFlags(rawValue: phdr.p_flags),
                offset: phdr.p_offset, virtualAddress: phdr.p_vaddr, physicalAddress: phdr.p_paddr,
                fileSize: phdr.p_filesz, memorySize: phdr.p_memsz, alignment: phdr.p_align)
            if segment.type == .load || segment.type == .note || segment.type == .dynamic {
                guard ELFParser.range(offset: segment.offset, count: segment.fileSize, within: size) != nil
                else {
                    throw .truncated(path: path, what: "segment \(index) (\(segment.type), offset "
                        + "0x\(String(segment.offset, radix: 16)), 0x\(String(segment.fileSize, radix: 16)) bytes) "
                        + "ends beyond the file (\(size) bytes)")
                }
            }
            headers.append(segment)
        }
        return headers
    }

    // MARK: Sections

    private func sections(elf: OpaquePointer, header: GElf_Ehdr, elfClass: ELFClass)
        throws(ELFError) -> [ELFSection]
    {
        // libelf silently drops a section header table that does not fit in the file; check the header's own
        // numbers first so a truncated file is reported as such.
        let entrySize = elfClass == .elf64 ? 64 : 40
        if header.e_shoff != 0 {
            let declared = max(UInt64(header.e_shnum), 1)  // 0 = extended numbering: entry 0 holds the count
            guard ELFParser.range(offset: header.e_shoff, count: declared * UInt64(entrySize),
                                  within: size) != nil else {
                throw .truncated(path: path, what: "section header table (\(header.e_shnum) entries at offset "
                    + "0x\(String(header.e_shoff, radix: 16))) ends beyond the file (\(size) bytes)")
            }
        } else if header.e_shnum != 0 {
            throw .malformed(path: path, what: "\(header.e_shnum) section headers declared at offset 0")
        }
        var count = 0
        guard elf_getshdrnum(elf, &count) == 0 else { throw libelfError("section header count") }
        if count == 0 { return [] }
        guard Int(header.e_shentsize) == entrySize else {
            throw .malformed(path: path, what: "section header entry size \(header.e_shentsize), expected \(entrySize)")
        }
        guard ELFParser.range(offset: header.e_shoff, count: UInt64(count) * UInt64(entrySize),
                              within: size) != nil else {
            throw .truncated(path: path, what: "section header table (\(count) entries at offset "
                + "0x\(String(header.e_shoff, radix: 16))) ends beyond the file (\(size) bytes)")
        }
        var namesIndex = 0
        let haveNames = elf_getshdrstrndx(elf, &namesIndex) == 0
        var result: [ELFSection] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            guard let scn = elf_getscn(elf, index) else { throw libelfError("section \(index)") }
            var shdr = GElf_Shdr()
            guard gelf_getshdr(scn, &shdr) != nil else { throw libelfError("section header \(index)") }
            var name = ""
            if haveNames, let cName = elf_strptr(elf, namesIndex, Int(shdr.sh_name)) {
                name = String(cString: cName)
            }
            result.append(ELFSection(index: index, name: name, type: ELFSectionType(rawValue: shdr.sh_type),
                                     flags: ELFSectionFlags(rawValue: shdr.sh_flags), address: shdr.sh_addr,
                                     offset: shdr.sh_offset, size: shdr.sh_size, link: shdr.sh_link,
                                     alignment: shdr.sh_addralign, entrySize: shdr.sh_entsize))
        }
        return result
    }

    // MARK: Notes

    private func notes(sections: [ELFSection], segments: [ELFProgramHeader], encoding: ELFDataEncoding)
        throws(ELFError) -> [ELFNote]
    {
        var result: [ELFNote] = []
        var seen = Set<UInt64>()
        for section in sections where section.type == .note {
            guard let range = ELFParser.range(offset: section.offset, count: section.size, within: size) else {
                throw .truncated(path: path, what: "note section \(section.name) (offset "
                    + "0x\(String(section.offset, radix: 16)), 0x\(String(section.size, radix: 16)) bytes) "
                    + "ends beyond the file (\(size) bytes)")
            }
            let alignment = section.alignment == 8 ? 8 : 4
            for note in try parseNotes(range, alignment: alignment, sectionName: section.name, encoding: encoding,
                                       place: "section \(section.name)")
            where seen.insert(note.fileOffset).inserted {
                result.append(note)
            }
        }
        for segment in segments where segment.type == .note {
            // Bounds were checked with the program headers.
            guard let range = ELFParser.range(offset: segment.offset, count: segment.fileSize, within: size)
            else { continue }
            let alignment = segment.alignment == 8 ? 8 : 4
            let sectionName = sections.first { $0.type == .note && $0.offset == segment.offset }?.name
            for note in try parseNotes(range, alignment: alignment, sectionName: sectionName, encoding: encoding,
                                       place: "segment \(segment.index) (PT_NOTE)")
            where seen.insert(note.fileOffset).inserted {
                result.append(note)
            }
        }
        return result
    }

    private func parseNotes(_ range: Range<Int>, alignment: Int, sectionName: String?, encoding: ELFDataEncoding,
                            place: String) throws(ELFError) -> [ELFNote]
    {
        guard let read = source.read(offset: UInt64(range.lowerBound), count: UInt64(range.count)) else {
            throw .unreadable(path: path, reason: "\(place) cannot be read (did the file change?)")
        }
        let area = ArraySlice(read)
        var result: [ELFNote] = []
        var position = 0
        func aligned(_ value: Int) -> Int { (value + alignment - 1) & ~(alignment - 1) }
        while area.count - position >= 12 {
            guard let nameSize = ELFByteReader.unsigned(area, at: position, size: 4, encoding: encoding),
                  let descSize = ELFByteReader.unsigned(area, at: position + 4, size: 4, encoding: encoding),
                  let type = ELFByteReader.unsigned(area, at: position + 8, size: 4, encoding: encoding) else { break }
            let nameStart = position + 12
            let descStart = aligned(nameStart + Int(nameSize))
            let descEnd = descStart + Int(descSize)
            guard descEnd <= area.count, nameStart + Int(nameSize) <= area.count else {
                throw .malformed(path: path, what: "note at offset 0x\(String(range.lowerBound + position, radix: 16)) "
                    + "in \(place) overruns it (namesz \(nameSize), descsz \(descSize))")
            }
            let nameBytes = area[(area.startIndex + nameStart)..<(area.startIndex + nameStart + Int(nameSize))]
            let owner = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            let desc = Array(area[(area.startIndex + descStart)..<(area.startIndex + descEnd)])
            result.append(ELFNote(owner: owner, type: UInt32(truncatingIfNeeded: type), desc: desc,
                                  fileOffset: UInt64(range.lowerBound + position), sectionName: sectionName,
                                  dataEncoding: encoding))
            position = aligned(descEnd)
        }
        return result
    }

    // MARK: Dynamic symbols

    private func dynamicSymbols(elf: OpaquePointer, sections: [ELFSection], elfClass: ELFClass)
        throws(ELFError) -> [ELFSymbol]
    {
        guard let table = sections.first(where: { $0.type == .dynamicSymbols }) else { return [] }
        guard ELFParser.range(offset: table.offset, count: table.size, within: size) != nil else {
            throw .truncated(path: path, what: "section \(table.name) (offset 0x\(String(table.offset, radix: 16)), "
                + "0x\(String(table.size, radix: 16)) bytes) ends beyond the file (\(size) bytes)")
        }
        guard let scn = elf_getscn(elf, table.index) else { throw libelfError("section \(table.name)") }
        var shdr = GElf_Shdr()
        guard gelf_getshdr(scn, &shdr) != nil else { throw libelfError("section header \(table.name)") }
        let entrySize: UInt64 = elfClass == .elf64 ? 24 : 16
        guard shdr.sh_entsize == entrySize else {
            throw .malformed(path: path, what: "section \(table.name) entry size \(shdr.sh_entsize), "
                + "expected \(entrySize)")
        }
        guard Int(shdr.sh_link) < sections.count, sections[Int(shdr.sh_link)].type == .stringTable else {
            throw .malformed(path: path, what: "section \(table.name) links to \(shdr.sh_link), not a string table")
        }
        guard let data = elf_getdata(scn, nil) else { throw libelfError("data of \(table.name)") }
        let count = Int(min(UInt64(data.pointee.d_size) / entrySize, table.size / entrySize))
        var result: [ELFSymbol] = []
        result.reserveCapacity(max(count - 1, 0))
        for index in 1..<max(count, 1) {
            var sym = GElf_Sym()
            guard gelf_getsym(data, Int32(index), &sym) != nil else { throw libelfError("symbol \(index)") }
            var name = ""
            if let cName = elf_strptr(elf, Int(shdr.sh_link), Int(sym.st_name)) { name = String(cString: cName) }
            result.append(ELFSymbol(name: name, value: sym.st_value, size: sym.st_size,
                                    type: ELFSymbolType(rawValue: sym.st_info & 0xf),
                                    binding: ELFSymbolBinding(rawValue: sym.st_info >> 4),
                                    sectionIndex: sym.st_shndx))
        }
        return result
    }
}
