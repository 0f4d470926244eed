/// The word size an ELF file was built for (`EI_CLASS`).
public enum ELFClass: UInt8, Sendable, CustomStringConvertible {
    case elf32 = 1
    case elf64 = 2

    public var description: String { self == .elf32 ? "ELF32" : "ELF64" }
}

/// The byte order of an ELF file's structures (`EI_DATA`).
public enum ELFDataEncoding: UInt8, Sendable, CustomStringConvertible {
    case littleEndian = 1
    case bigEndian = 2

    public var description: String { self == .littleEndian ? "little-endian" : "big-endian" }
}

/// The object file type (`e_type`).
public struct ELFFileType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let none = ELFFileType(rawValue: 0)
    public static let relocatable = ELFFileType(rawValue: 1)
    public static let executable = ELFFileType(rawValue: 2)
    public static let sharedObject = ELFFileType(rawValue: 3)
    public static let core = ELFFileType(rawValue: 4)

    public var description: String {
        switch self {
        case .none: return "ET_NONE"
        case .relocatable: return "ET_REL"
        case .executable: return "ET_EXEC"
        case .sharedObject: return "ET_DYN"
        case .core: return "ET_CORE"
        default: return "type 0x\(String(rawValue, radix: 16))"
        }
    }
}

/// The target machine (`e_machine`).
public struct ELFMachine: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let i386 = ELFMachine(rawValue: 3)
    public static let arm = ELFMachine(rawValue: 40)
    public static let x86_64 = ELFMachine(rawValue: 62)
    public static let aarch64 = ELFMachine(rawValue: 183)
    public static let riscv = ELFMachine(rawValue: 243)

    public var description: String {
        switch self {
        case .i386: return "i386"
        case .arm: return "ARM"
        case .x86_64: return "x86-64"
        case .aarch64: return "AArch64"
        case .riscv: return "RISC-V"
        default: return "machine \(rawValue)"
        }
    }
}
