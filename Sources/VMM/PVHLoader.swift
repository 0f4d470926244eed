import ELF
import KVM

/// Where a loaded PVH kernel starts and where its boot data lies.
public struct PVHBootInfo: Sendable, Equatable {
    /// The kernel file.
    public let path: String
    /// The 32-bit entry point from `XEN_ELFNOTE_PHYS32_ENTRY`.
    public let entryPoint: UInt32
    /// Guest-physical address of `hvm_start_info` (handed to the BSP in %ebx).
    public let startInfoAddress: UInt64
    /// Guest-physical address of the NUL-terminated command line.
    public let commandLineAddress: UInt64
    /// Guest-physical address of the memory map.
    public let memoryMapAddress: UInt64
    /// The memory map written for the guest.
    public let memoryMap: [E820Entry]
    /// Guest-physical ranges the PT_LOAD segments occupy.
    public let loadedRanges: [Range<UInt64>]
}

/// A PVH kernel as read from its file and checked against a guest RAM: the entry point and the bytes of every
/// loadable segment.
struct PVHKernelImage: Sendable {
    /// One PT_LOAD segment: `bytes` (its file part) go to `physicalAddress`, the rest up to `memorySize` is zeroed.
    struct Segment: Sendable {
        let index: Int
        let physicalAddress: UInt64
        let memorySize: UInt64
        let bytes: [UInt8]
    }

    /// The kernel file.
    let path: String
    /// The 32-bit entry point from `XEN_ELFNOTE_PHYS32_ENTRY`.
    let entryPoint: UInt32
    /// The segments, in program-header order.
    let segments: [Segment]
}

/// Loads an ELF kernel for the PVH boot protocol: finds the `XEN_ELFNOTE_PHYS32_ENTRY` note, copies every PT_LOAD
/// segment to its physical address (zeroing the bss part), writes `hvm_start_info` (version 1), the command line and
/// the memory map into low memory, and puts the BSP into the 32-bit protected-mode state the protocol defines.
public struct PVHLoader {
    /// `XEN_ELFNOTE_PHYS32_ENTRY`.
    public static let entryNoteType: UInt32 = 18
    /// The owner of the Xen ELF notes.
    public static let entryNoteOwner = "Xen"
    /// `hvm_start_info.magic`.
    public static let startInfoMagic: UInt32 = 0x336e_c578
    /// Low-memory area reserved for the boot data; kernels may not load into it.
    public static let bootDataArea: Range<UInt64> = 0x6000..<0x8000
    /// `hvm_start_info` (56 bytes).
    public static let startInfoAddress: UInt64 = 0x6000
    /// The memory map (`hvm_memmap_table_entry`, 24 bytes each), up to 64 entries.
    public static let memoryMapAddress: UInt64 = 0x6040
    static let maximumMemoryMapEntries = 64
    /// The command line, NUL-terminated, up to 4 KiB including the NUL.
    public static let commandLineAddress: UInt64 = 0x7000
    public static let commandLineCapacity = 0x1000

    public let memory: GuestMemory

    public init(memory: GuestMemory) { self.memory = memory }

    /// Reads the kernel at `path` and loads it.
    public func load(kernelPath path: String, commandLine: String) throws(PVHLoadError) -> PVHBootInfo {
        let elf: ELFFile
        do { elf = try ELFFile(path: path) } catch { throw .invalidELF(error) }
        return try load(elf, commandLine: commandLine)
    }

    /// Loads an already-parsed kernel.
    public func load(_ elf: ELFFile, commandLine: String) throws(PVHLoadError) -> PVHBootInfo {
        try load(try image(of: elf), commandLine: commandLine)
    }

    /// Checks `elf` against this guest RAM and reads its loadable segments: the image `load(_:commandLine:)`
    /// copies in, and copies in again at every reset (the guest gets the image it booted even if the file changes
    /// meanwhile; the file is read once).
    func image(of elf: ELFFile) throws(PVHLoadError) -> PVHKernelImage {
        let path = elf.path
        guard elf.machine == .x86_64 || elf.machine == .i386 else {
            throw .wrongMachine(path: path, machine: elf.machine.description)
        }
        let entry = try Self.entryPoint(of: elf)

        // Check every segment before reading or writing anything.
        let segments = elf.loadSegments.filter { $0.memorySize > 0 }
        guard !segments.isEmpty else { throw .noLoadableSegment(path: path) }
        var ranges: [Range<UInt64>] = []
        for s in segments {
            guard s.fileSize <= s.memorySize else {
                throw .malformedSegment(path: path, index: s.index,
                                        reason: "file size \(s.fileSize) exceeds memory size \(s.memorySize)")
            }
            let (end, overflow) = s.physicalAddress.addingReportingOverflow(s.memorySize)
            guard !overflow, memory.contains(s.physicalAddress, count: s.memorySize) else {
                throw .segmentOutsideRAM(path: path, index: s.index, start: s.physicalAddress,
                                         end: overflow ? UInt64.max : end)
            }
            if s.physicalAddress < Self.bootDataArea.upperBound && end > Self.bootDataArea.lowerBound {
                throw .segmentOverlapsBootData(path: path, index: s.index, start: s.physicalAddress, end: end)
            }
            ranges.append(s.physicalAddress..<end)
        }
        guard ranges.contains(where: { $0.contains(UInt64(entry)) }) || memory.contains(UInt64(entry), count: 1) else {
            throw .entryOutsideRAM(path: path, entry: UInt64(entry))
        }
        var loaded: [PVHKernelImage.Segment] = []
        for s in segments {
            do {
                loaded.append(PVHKernelImage.Segment(index: s.index, physicalAddress: s.physicalAddress,
                                                     memorySize: s.memorySize, bytes: try elf.bytes(of: s)))
            } catch {
                throw .invalidELF(error)
            }
        }
        return PVHKernelImage(path: path, entryPoint: entry, segments: loaded)
    }

    /// Copies `image` (made by `image(of:)` for this guest RAM, so every segment fits) into guest RAM, zeroing the
    /// bss parts, and writes the boot data for `commandLine`.
    func load(_ image: PVHKernelImage, commandLine: String) throws(PVHLoadError) -> PVHBootInfo {
        let path = image.path
        let entry = image.entryPoint
        let commandLineBytes = Array(commandLine.utf8)
        guard commandLineBytes.count < Self.commandLineCapacity else {
            throw .commandLineTooLong(path: path, length: commandLineBytes.count, maximum: Self.commandLineCapacity - 1)
        }
        let ranges = image.segments.map { $0.physicalAddress..<($0.physicalAddress + $0.memorySize) }
        for s in image.segments {
            do {
                try memory.write(s.bytes, at: s.physicalAddress)
                let fileSize = UInt64(s.bytes.count)
                if s.memorySize > fileSize {
                    try memory.zero(at: s.physicalAddress + fileSize, count: s.memorySize - fileSize)
                }
            } catch {
                throw .segmentOutsideRAM(path: path, index: s.index, start: s.physicalAddress,
                                         end: s.physicalAddress + s.memorySize)
            }
        }

        // Boot data: command line, memory map, hvm_start_info.
        let map = Array(memory.layout.e820Map.prefix(Self.maximumMemoryMapEntries))
        do {
            try memory.zero(at: Self.bootDataArea.lowerBound,
                            count: Self.bootDataArea.upperBound - Self.bootDataArea.lowerBound)
            try memory.write(commandLineBytes + [0], at: Self.commandLineAddress)
            for (i, e) in map.enumerated() {
                let at = Self.memoryMapAddress + UInt64(i * 24)
                try memory.store(e.address, at: at)
                try memory.store(e.size, at: at + 8)
                try memory.store(e.type.rawValue, at: at + 16)
                try memory.store(UInt32(0), at: at + 20)
            }
            let si = Self.startInfoAddress
            try memory.store(Self.startInfoMagic, at: si + 0)     // magic
            try memory.store(UInt32(1), at: si + 4)               // version
            try memory.store(UInt32(0), at: si + 8)               // flags
            try memory.store(UInt32(0), at: si + 12)              // nr_modules
            try memory.store(UInt64(0), at: si + 16)              // modlist_paddr
            try memory.store(Self.commandLineAddress, at: si + 24)  // cmdline_paddr
            try memory.store(UInt64(0), at: si + 32)              // rsdp_paddr
            try memory.store(Self.memoryMapAddress, at: si + 40)  // memmap_paddr
            try memory.store(UInt32(map.count), at: si + 48)      // memmap_entries
            try memory.store(UInt32(0), at: si + 52)              // reserved
        } catch {
            // Guest RAM is at least 1 MiB, so the boot data area always fits; keep the path typed anyway.
            throw .segmentOutsideRAM(path: path, index: -1, start: Self.bootDataArea.lowerBound,
                                     end: Self.bootDataArea.upperBound)
        }
        return PVHBootInfo(path: path, entryPoint: entry, startInfoAddress: Self.startInfoAddress,
                           commandLineAddress: Self.commandLineAddress, memoryMapAddress: Self.memoryMapAddress,
                           memoryMap: map, loadedRanges: ranges)
    }

    /// The entry point from the `XEN_ELFNOTE_PHYS32_ENTRY` note.
    static func entryPoint(of elf: ELFFile) throws(PVHLoadError) -> UInt32 {
        guard let note = elf.notes(owner: entryNoteOwner, type: entryNoteType).first else {
            throw .noEntryNote(path: elf.path)
        }
        if note.desc.count >= 8, let v = note.descUInt64() {
            guard v <= UInt64(UInt32.max) else {
                throw .badEntryNote(path: elf.path, reason: "entry 0x\(String(v, radix: 16)) is above 4 GiB")
            }
            return UInt32(v)
        }
        guard note.desc.count >= 4, let v = note.descUInt32() else {
            throw .badEntryNote(path: elf.path, reason: "descriptor has \(note.desc.count) bytes, need 4")
        }
        return v
    }

    /// Puts `vcpu` (the BSP) into the PVH entry state: 32-bit protected mode, paging off, flat 4 GiB code and
    /// data segments, a 32-bit TSS, EFLAGS = 0x2, %eip = entry, %ebx = start info, everything else zero.
    public static func configureBootProcessor(_ vcpu: KVMVCPU, boot: PVHBootInfo) throws(KVMError) {
        var sregs = try vcpu.specialRegisters()
        func segment(selector: UInt16, type: UInt8) -> KVMSegment {
            var s = KVMSegment()
            s.base = 0
            s.limit = 0xffff_ffff
            s.selector = selector
            s.type = type
            s.present = 1
            s.dpl = 0
            s.db = 1
            s.s = 1
            s.l = 0
            s.g = 1
            s.avl = 0
            s.unusable = 0
            return s
        }
        sregs.cs = segment(selector: 0x10, type: 0xb)    // execute/read, accessed
        let data = segment(selector: 0x18, type: 0x3)  // read/write, accessed
        sregs.ds = data
        sregs.es = data
        sregs.fs = data
        sregs.gs = data
        sregs.ss = data
        var tr = KVMSegment()
        tr.selector = 0x20
        tr.base = 0
        tr.limit = 0x67
        tr.type = 0xb  // 32-bit TSS, busy
        tr.present = 1
        tr.s = 0
        sregs.tr = tr
        sregs.cr0 = 0x11  // PE | ET; paging off
        sregs.cr3 = 0
        sregs.cr4 = 0
        sregs.efer = 0
        try vcpu.setSpecialRegisters(sregs)

        var regs = KVMRegisters()
        regs.rip = UInt64(boot.entryPoint)
        regs.rbx = boot.startInfoAddress
        regs.rflags = 0x2
        try vcpu.setRegisters(regs)
        try vcpu.setMPState(.runnable)
    }
}
