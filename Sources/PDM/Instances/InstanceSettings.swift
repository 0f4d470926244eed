import CVMHostABI
import Logging

/// The settings of one device or driver instance plus the key path they came from; answers the `cfg*` helpers.
/// Every type or size error is logged with the exact key path (`devices[1].settings.iobase: expected an integer,
/// got a string`) and kept in `errors` so a failing construct can report it.
final class InstanceSettings {
    let settings: Settings
    /// Key path of the settings map, e.g. `devices[1].luns[0].driver.below.settings`.
    let path: String
    /// Messages recorded by cfgValidate / cfgError / failed queries, each prefixed with its key path.
    private(set) var errors: [String] = []
    private let logger: Logger

    init(settings: Settings, path: String, logger: Logger) {
        self.settings = settings
        self.path = path
        self.logger = logger
    }

    func record(_ message: String) {
        errors.append(message)
        logger.error("\(message)")
    }

    func queryString(_ key: UnsafePointer<CChar>?, _ buf: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
        guard let key, let buf, size > 0 else { return VMH_ERR_INVALID_PARAMETER }
        let k = String(cString: key)
        guard let value = settings[k] else { return VMH_ERR_NOT_FOUND }
        guard case .string(let s) = value else {
            record("\(path).\(k): expected a string, got \(value.kindDescription)")
            return VMH_ERR_WRONG_TYPE
        }
        let utf8 = Array(s.utf8)
        guard utf8.count < size else {
            record("\(path).\(k): value of \(utf8.count) bytes does not fit the plugin's \(size)-byte buffer")
            return VMH_ERR_BUFFER_TOO_SMALL
        }
        utf8.withUnsafeBufferPointer { src in
            guard let base = src.baseAddress else { return }  // empty value: only the NUL below
            UnsafeMutableRawPointer(buf).copyMemory(from: UnsafeRawPointer(base), byteCount: src.count)
        }
        buf[utf8.count] = 0
        return VMH_OK
    }

    func queryInteger(_ key: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
        guard let key, let out else { return VMH_ERR_INVALID_PARAMETER }
        let k = String(cString: key)
        guard let value = settings[k] else { return VMH_ERR_NOT_FOUND }
        guard case .integer(let i) = value else {
            record("\(path).\(k): expected an integer, got \(value.kindDescription)")
            return VMH_ERR_WRONG_TYPE
        }
        out.pointee = i
        return VMH_OK
    }

    func queryBool(_ key: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<Bool>?) -> Int32 {
        guard let key, let out else { return VMH_ERR_INVALID_PARAMETER }
        let k = String(cString: key)
        guard let value = settings[k] else { return VMH_ERR_NOT_FOUND }
        guard case .bool(let b) = value else {
            record("\(path).\(k): expected a bool, got \(value.kindDescription)")
            return VMH_ERR_WRONG_TYPE
        }
        out.pointee = b
        return VMH_OK
    }

    func validate(_ allowedKeys: UnsafePointer<CChar>?) -> Int32 {
        let allowed = Set((allowedKeys.map { String(cString: $0) } ?? "").split(separator: "|").map(String.init))
        let unknown = settings.keys.filter { !allowed.contains($0) }.sorted()
        guard unknown.isEmpty else {
            let known = allowed.sorted().joined(separator: ", ")
            for key in unknown {
                record("\(path).\(key): unknown key (known: \(known.isEmpty ? "none" : known))")
            }
            return VMH_ERR_UNKNOWN_CONFIG_KEY
        }
        return VMH_OK
    }

    func error(_ key: UnsafePointer<CChar>?, _ message: UnsafePointer<CChar>?) -> Int32 {
        let k = key.map { String(cString: $0) } ?? "?"
        let m = message.map { String(cString: $0) } ?? "invalid value"
        record("\(path).\(k): \(m)")
        return VMH_OK
    }
}
