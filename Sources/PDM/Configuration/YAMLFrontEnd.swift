#if canImport(Glibc)
import Glibc
#endif

/// Loads `libVMHostYAML.so` on first use and composes documents with it (see `ConfigNode`). The library is looked
/// for in `VMHOST_YAML_LIBRARY`, else next to the running executable (where the build puts every product).
/// Kept out of the host binary so that a VM started without a configuration file never loads Foundation.
enum YAMLFrontEnd {
    typealias Compose = @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                        UnsafeMutablePointer<Int>) -> Int32

    static let libraryName = "libVMHostYAML.so"

    /// The library's compose entry, or why it could not be loaded.
    private static let loaded: Result<Compose, ConfigurationError> = load()

    /// Composes `text` into a tree; nil for an empty document.
    static func compose(_ text: String) throws(ConfigurationError) -> ConfigNode? {
        let compose = try loaded.get()
        var output: UnsafeMutableRawPointer?
        var length = 0
        let status = text.withCString { compose($0, &output, &length) }
        defer { free(output) }
        let bytes = UnsafeRawBufferPointer(start: output, count: output == nil ? 0 : length)
        switch status {
        case 0:
            if bytes.isEmpty { return nil }
            guard let node = ConfigNode.decode(bytes) else {
                throw ConfigurationError(keyPath: "", message: "internal: \(libraryName) returned a malformed tree")
            }
            return node
        case 1:
            throw ConfigurationError(keyPath: "", message: "not valid YAML: " + String(decoding: bytes, as: UTF8.self))
        default:
            throw ConfigurationError(keyPath: "", message: "\(libraryName) could not allocate its answer")
        }
    }

    private static func load() -> Result<Compose, ConfigurationError> {
        let path = libraryPath()
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            return .failure(ConfigurationError(keyPath: "", message: "cannot read configuration files: YAML support "
                + "(\(libraryName)) did not load from \(path): \(reason); build it with `swift build` or set "
                + "VMHOST_YAML_LIBRARY, or give the machine and devices on the command line"))
        }
        guard let symbol = dlsym(handle, "vmhost_yaml_compose") else {
            return .failure(ConfigurationError(keyPath: "", message: "\(path) has no vmhost_yaml_compose"))
        }
        return .success(unsafeBitCast(symbol, to: Compose.self))
    }

    private static func libraryPath() -> String {
        if let explicit = getenv("VMHOST_YAML_LIBRARY"), explicit.pointee != 0 { return String(cString: explicit) }
        guard let directory = ExecutableLocation.directory else { return libraryName }
        return directory + "/" + libraryName
    }
}
