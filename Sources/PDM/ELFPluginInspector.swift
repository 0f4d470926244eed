import ELF

/// Judges a plugin file from its ELF contents before anything of it is mapped: an ELF64 x86-64 shared object that
/// exports a defined `vmhost_plugin_register` function, with an ABI note (if any) this host satisfies.
enum ELFPluginInspector {
    /// The one symbol a plugin exports (`VMH_PLUGIN_ENTRY_NAME`).
    static let entryName = "vmhost_plugin_register"

    /// The ABI note of an acceptable file (nil when it has none), or the refusal.
    static func inspect(path: String) throws(PluginLoadError) -> PluginABINote? {
        let file: ELFFile
        do {
            file = try ELFFile(path: path)
        } catch {
            switch error {
            case .notFound, .unreadable: throw PluginLoadError(path: path, kind: .unreadable, reason: error.reason)
            default: throw PluginLoadError(path: path, kind: .notELF, reason: error.reason)
            }
        }
        return try judge(file, path: path)
    }

    /// The checks on an already parsed file.
    static func judge(_ file: ELFFile, path: String) throws(PluginLoadError) -> PluginABINote? {
        let expectation = "plugins are ELF64 x86-64 shared objects"
        guard file.elfClass == .elf64 else {
            throw PluginLoadError(path: path, kind: .wrongFormat, reason: "\(file.elfClass) file; \(expectation)")
        }
        guard file.machine == .x86_64 else {
            throw PluginLoadError(path: path, kind: .wrongFormat, reason: "built for \(file.machine); \(expectation)")
        }
        guard file.type == .sharedObject else {
            throw PluginLoadError(path: path, kind: .wrongFormat,
                                  reason: "\(file.type) file, not a shared object (ET_DYN); \(expectation)")
        }
        guard let entry = file.dynamicSymbols.first(where: { $0.name == entryName && $0.isDefined }) else {
            let imported = file.dynamicSymbol(named: entryName) != nil
            throw PluginLoadError(path: path, kind: .noEntryPoint,
                                  reason: imported ? "\(entryName) is imported, not defined, by this file"
                                      : "does not export \(entryName)")
        }
        guard entry.type == .function || entry.type == .gnuIndirectFunction,
              entry.binding == .global || entry.binding == .weak else {
            throw PluginLoadError(path: path, kind: .noEntryPoint,
                                  reason: "\(entryName) is a \(entry.binding) \(entry.type) symbol, not a global function")
        }
        guard let note = file.notes(owner: PluginABINote.owner, type: PluginABINote.type).first else { return nil }
        guard let abiNote = PluginABINote(note: note) else {
            throw PluginLoadError(path: path, kind: .badABINote,
                                  reason: "malformed ABI note (\(note.sectionName ?? "PT_NOTE")): \(note.desc.count)-byte "
                                      + "descriptor, expected \(PluginABINote.descriptorSize)")
        }
        if let reason = abiNote.firstIncompatibility() {
            throw PluginLoadError(path: path, kind: .abiMismatch, reason: reason)
        }
        return abiNote
    }
}
