import ELF

/// The `.note.vmhost` ABI note of a plugin (owner "VMHost", type `VMH_NOTE_TYPE_ABI`, desc `VMHAbiNoteDesc`):
/// the header versions the plugin was compiled against.
public struct PluginABINote: Hashable, Sendable {
    /// Note owner (`VMH_NOTE_NAME`).
    public static let owner = "VMHost"
    /// Note type (`VMH_NOTE_TYPE_ABI`).
    public static let type: UInt32 = 0x564d_0001
    /// Bytes of `VMHAbiNoteDesc`.
    public static let descriptorSize = 32

    /// The versions in `VMHAbiNoteDesc` order.
    public let versions: [ABITable: ABIVersion]

    public init(versions: [ABITable: ABIVersion]) { self.versions = versions }

    /// Reads the note from its descriptor; nil when the descriptor is shorter than `VMHAbiNoteDesc` (longer ones
    /// are accepted: a later minor may append fields).
    public init?(note: ELFNote) {
        guard note.desc.count >= PluginABINote.descriptorSize else { return nil }
        var versions: [ABITable: ABIVersion] = [:]
        for (index, table) in ABITable.allCases.enumerated() {
            guard let word = note.descUInt32(at: index * 4) else { return nil }
            versions[table] = ABIVersion(rawValue: word)
        }
        self.versions = versions
    }

    /// The version recorded for `table`.
    public func version(of table: ABITable) -> ABIVersion? { versions[table] }

    /// The first table (in `VMHAbiNoteDesc` order) this host cannot serve, with the reason.
    public func firstIncompatibility() -> String? {
        for table in ABITable.allCases {
            if let built = versions[table], let reason = table.incompatibility(built: built) { return reason }
        }
        return nil
    }
}
