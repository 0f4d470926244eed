import ELF

/// Why a kernel could not be loaded as a PVH guest. Every message names the kernel file.
public enum PVHLoadError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be read or is not a valid ELF file (the ELF reader's error names the file).
    case invalidELF(ELFError)
    /// The ELF is for another machine than x86.
    case wrongMachine(path: String, machine: String)
    /// No `XEN_ELFNOTE_PHYS32_ENTRY` note (owner "Xen", type 18): not a PVH kernel.
    case noEntryNote(path: String)
    /// The entry note's descriptor is not a 32-bit address.
    case badEntryNote(path: String, reason: String)
    /// The ELF has no loadable segment.
    case noLoadableSegment(path: String)
    /// A PT_LOAD segment's file size exceeds its memory size.
    case malformedSegment(path: String, index: Int, reason: String)
    /// A PT_LOAD segment does not fit in guest RAM.
    case segmentOutsideRAM(path: String, index: Int, start: UInt64, end: UInt64)
    /// A PT_LOAD segment overlaps the low-memory area the loader writes the boot data to.
    case segmentOverlapsBootData(path: String, index: Int, start: UInt64, end: UInt64)
    /// The PVH entry point is not inside guest RAM.
    case entryOutsideRAM(path: String, entry: UInt64)
    /// The command line does not fit the space reserved for it.
    case commandLineTooLong(path: String, length: Int, maximum: Int)

    public var description: String {
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        switch self {
        case .invalidELF(let e):
            return "cannot load PVH kernel \(e)"
        case .wrongMachine(let p, let m):
            return "cannot load PVH kernel \(p): ELF machine is \(m), not x86"
        case .noEntryNote(let p):
            return "cannot load PVH kernel \(p): no XEN_ELFNOTE_PHYS32_ENTRY note (owner \"Xen\", type 18); "
                + "not a PVH-bootable image"
        case .badEntryNote(let p, let reason):
            return "cannot load PVH kernel \(p): bad XEN_ELFNOTE_PHYS32_ENTRY note: \(reason)"
        case .noLoadableSegment(let p):
            return "cannot load PVH kernel \(p): no PT_LOAD segment"
        case .malformedSegment(let p, let i, let reason):
            return "cannot load PVH kernel \(p): segment \(i): \(reason)"
        case .segmentOutsideRAM(let p, let i, let s, let e):
            return "cannot load PVH kernel \(p): segment \(i) [\(hex(s)), \(hex(e))) lies outside guest RAM"
        case .segmentOverlapsBootData(let p, let i, let s, let e):
            return "cannot load PVH kernel \(p): segment \(i) [\(hex(s)), \(hex(e))) overlaps the boot data area "
                + "[\(hex(PVHLoader.bootDataArea.lowerBound)), \(hex(PVHLoader.bootDataArea.upperBound)))"
        case .entryOutsideRAM(let p, let entry):
            return "cannot load PVH kernel \(p): entry point \(hex(entry)) lies outside guest RAM"
        case .commandLineTooLong(let p, let length, let maximum):
            return "cannot load PVH kernel \(p): command line of \(length) bytes exceeds \(maximum) bytes"
        }
    }
}
