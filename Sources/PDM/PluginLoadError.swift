/// Why a plugin module was refused. `description` is the one line `<file>: <reason>`.
public struct PluginLoadError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of refusal, for code that reacts to it; the text is in `reason`.
    public enum Kind: Hashable, Sendable {
        /// The file (or search directory) does not exist or cannot be read.
        case unreadable
        /// The file is not a usable ELF file (not ELF, truncated, malformed).
        case notELF
        /// ELF, but not an ELF64 x86-64 shared object.
        case wrongFormat
        /// No defined `vmhost_plugin_register` function is exported.
        case noEntryPoint
        /// The ABI note (or a registration struct) asks for a newer minor or another major than this host has.
        case abiMismatch
        /// The ABI note is present but unreadable.
        case badABINote
        /// The file or its directory is writable by group or others.
        case insecurePermissions
        /// `dlopen` or `dlsym` failed.
        case dynamicLinker
        /// A registration of the module was refused.
        case invalidRegistration
        /// A name the module registers is already registered.
        case duplicateName
        /// The entry point returned an error.
        case entryPointFailed
        /// This registry already holds a module from the same file.
        case alreadyLoaded
    }

    /// The file at fault (the static module name for `registerStatic`).
    public let path: String
    public let kind: Kind
    /// The reason, without the file name.
    public let reason: String

    public init(path: String, kind: Kind, reason: String) {
        self.path = path
        self.kind = kind
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}
