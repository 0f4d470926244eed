/// The kind of a symbol (`ELF_ST_TYPE`).
public struct ELFSymbolType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let none = ELFSymbolType(rawValue: 0)
    public static let object = ELFSymbolType(rawValue: 1)
    public static let function = ELFSymbolType(rawValue: 2)
    public static let section = ELFSymbolType(rawValue: 3)
    public static let file = ELFSymbolType(rawValue: 4)
    public static let common = ELFSymbolType(rawValue: 5)
    public static let tls = ELFSymbolType(rawValue: 6)
    public static let gnuIndirectFunction = ELFSymbolType(rawValue: 10)

    public var description: String {
        switch self {
        case .none: return "STT_NOTYPE"
        case .object: return "STT_OBJECT"
        case .function: return "STT_FUNC"
        case .section: return "STT_SECTION"
        case .file: return "STT_FILE"
        case .common: return "STT_COMMON"
        case .tls: return "STT_TLS"
        case .gnuIndirectFunction: return "STT_GNU_IFUNC"
        default: return "symbol type \(rawValue)"
        }
    }
}

/// The visibility scope of a symbol for linking (`ELF_ST_BIND`).
public struct ELFSymbolBinding: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let local = ELFSymbolBinding(rawValue: 0)
    public static let global = ELFSymbolBinding(rawValue: 1)
    public static let weak = ELFSymbolBinding(rawValue: 2)
    public static let gnuUnique = ELFSymbolBinding(rawValue: 10)

    public var description: String {
        switch self {
        case .local: return "STB_LOCAL"
        case .global: return "STB_GLOBAL"
        case .weak: return "STB_WEAK"
        case .gnuUnique: return "STB_GNU_UNIQUE"
        default: return "binding \(rawValue)"
        }
    }
}

/// One entry of the dynamic symbol table (`.dynsym`).
public struct ELFSymbol: Hashable, Sendable {
    public let name: String
    public let value: UInt64
    public let size: UInt64
    public let type: ELFSymbolType
    public let binding: ELFSymbolBinding
    /// The section index the symbol is defined in (0 = undefined, SHN_UNDEF).
    public let sectionIndex: UInt16

    public init(name: String, value: UInt64, size: UInt64, type: ELFSymbolType, binding: ELFSymbolBinding,
                sectionIndex: UInt16) {
        self.name = name
        self.value = value
        self.size = size
        self.type = type
        self.binding = binding
        self.sectionIndex = sectionIndex
    }

    /// True when this file defines the symbol (it is not an import).
    public var isDefined: Bool { sectionIndex != 0 }
}
