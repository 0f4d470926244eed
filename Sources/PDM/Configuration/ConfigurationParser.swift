extension VMConfiguration {
    /// Parses a YAML (or JSON) configuration. Unknown keys and values of the wrong type are errors that name
    /// their key path.
    public init(yaml text: String) throws(ConfigurationError) {
        guard let root = try YAMLFrontEnd.compose(text) else {
            self.init()
            return
        }
        self = try ConfigurationParser.configuration(root)
    }
}

/// Walks a composed configuration tree into a `VMConfiguration`, keeping the key path for every error.
enum ConfigurationParser {
    static func configuration(_ node: ConfigNode) throws(ConfigurationError) -> VMConfiguration {
        var config = VMConfiguration()
        for (key, value) in try mapping(node, path: "") {
            switch key {
            case "plugin-paths":
                config.pluginPaths = try list(value, path: key).enumerated().map { (i, item) throws(ConfigurationError) in
                    try string(item, path: "\(key)[\(i)]")
                }
            case "pdm":
                for (pkey, pvalue) in try mapping(value, path: key) {
                    let path = "pdm.\(pkey)"
                    switch pkey {
                    case "async-deadline-ms":
                        let ms = try integer(pvalue, path: path)
                        guard ms > 0 else { throw ConfigurationError(keyPath: path, message: "must be greater than 0, got \(ms)") }
                        config.pdm.asyncDeadlineMilliseconds = ms
                    default: throw unknownKey(path)
                    }
                }
            case "machine":
                for (mkey, mvalue) in try mapping(value, path: key) {
                    let path = "machine.\(mkey)"
                    switch mkey {
                    case "cpus":
                        let n = try integer(mvalue, path: path)
                        guard (1...255).contains(n) else { throw ConfigurationError(keyPath: path, message: "must be 1…255, got \(n)") }
                        config.machine.cpus = Int(n)
                    case "memory-mib":
                        let n = try integer(mvalue, path: path)
                        guard n > 0 && n <= 1 << 20 else { throw ConfigurationError(keyPath: path, message: "must be 1…1048576, got \(n)") }
                        config.machine.memoryMiB = Int(n)
                    case "kernel": config.machine.kernel = try string(mvalue, path: path)
                    case "cmdline": config.machine.cmdline = try string(mvalue, path: path)
                    default: throw unknownKey(path)
                    }
                }
            case "devices":
                config.devices = try list(value, path: key).enumerated().map { (i, item) throws(ConfigurationError) in
                    try device(item, path: "devices[\(i)]")
                }
            default:
                throw unknownKey(key)
            }
        }
        return config
    }

    static func device(_ node: ConfigNode, path: String) throws(ConfigurationError) -> DeviceConfig {
        var name: String?
        var device = DeviceConfig(name: "")
        for (key, value) in try mapping(node, path: path) {
            let keyPath = "\(path).\(key)"
            switch key {
            case "name": name = try registrationName(value, path: keyPath)
            case "order":
                let order = try integer(value, path: keyPath)
                guard order >= 0 && order <= Int64(UInt32.max) else {
                    throw ConfigurationError(keyPath: keyPath, message: "must be 0…\(UInt32.max), got \(order)")
                }
                device.order = UInt32(order)
            case "settings": device.settings = try settings(value, path: keyPath)
            case "luns":
                var seen: Set<UInt32> = []
                for (i, item) in try list(value, path: keyPath).enumerated() {
                    let lun = try lun(item, index: i, path: "\(keyPath)[\(i)]")
                    guard seen.insert(lun.lun).inserted else {
                        throw ConfigurationError(keyPath: "\(keyPath)[\(i)]", message: "LUN \(lun.lun) is configured twice")
                    }
                    device.luns.append(lun)
                }
            default: throw unknownKey(keyPath)
            }
        }
        guard let name else { throw ConfigurationError(keyPath: "\(path).name", message: "missing (the device's registration name)") }
        device.name = name
        return device
    }

    static func lun(_ node: ConfigNode, index: Int, path: String) throws(ConfigurationError) -> LUNConfig {
        var number = UInt32(index)
        var driver: DriverConfig?
        for (key, value) in try mapping(node, path: path) {
            let keyPath = "\(path).\(key)"
            switch key {
            case "lun":
                let n = try integer(value, path: keyPath)
                guard n >= 0 && n <= Int64(UInt32.max) else {
                    throw ConfigurationError(keyPath: keyPath, message: "must be 0…\(UInt32.max), got \(n)")
                }
                number = UInt32(n)
            case "driver": driver = try self.driver(value, path: keyPath)
            default: throw unknownKey(keyPath)
            }
        }
        guard let driver else { throw ConfigurationError(keyPath: "\(path).driver", message: "missing (the top driver of this LUN)") }
        return LUNConfig(lun: number, driver: driver)
    }

    static func driver(_ node: ConfigNode, path: String) throws(ConfigurationError) -> DriverConfig {
        var name: String?
        var settings: Settings = [:]
        var below: DriverConfig?
        for (key, value) in try mapping(node, path: path) {
            let keyPath = "\(path).\(key)"
            switch key {
            case "name": name = try registrationName(value, path: keyPath)
            case "settings": settings = try self.settings(value, path: keyPath)
            case "below": below = try driver(value, path: keyPath)
            default: throw unknownKey(keyPath)
            }
        }
        guard let name else { throw ConfigurationError(keyPath: "\(path).name", message: "missing (the driver's registration name)") }
        return DriverConfig(name: name, settings: settings, below: below)
    }

    static func settings(_ node: ConfigNode, path: String) throws(ConfigurationError) -> Settings {
        var result: Settings = [:]
        for (key, value) in try mapping(node, path: path) {
            result[key] = try settingValue(value, path: "\(path).\(key)")
        }
        return result
    }

    // MARK: - Scalars and shapes

    static func settingValue(_ node: ConfigNode, path: String) throws(ConfigurationError) -> SettingValue {
        guard case let .scalar(text, plain) = node else {
            throw ConfigurationError(keyPath: path, message: "expected a string, integer or bool, got \(kind(node))")
        }
        if !plain { return .string(text) }
        if isNull(text) { throw ConfigurationError(keyPath: path, message: "expected a string, integer or bool, got null") }
        return SettingValue.inferred(from: text)
    }

    static func string(_ node: ConfigNode, path: String) throws(ConfigurationError) -> String {
        guard case let .scalar(text, plain) = node, !plain || !isNull(text) else {
            throw ConfigurationError(keyPath: path, message: "expected a string, got \(kind(node))")
        }
        return text
    }

    static func registrationName(_ node: ConfigNode, path: String) throws(ConfigurationError) -> String {
        let name = try string(node, path: path)
        guard isValidName(name) else {
            throw ConfigurationError(keyPath: path, message: "'\(name)' is not a valid name ([A-Za-z][A-Za-z0-9_-]*, at most 31 characters)")
        }
        return name
    }

    static func integer(_ node: ConfigNode, path: String) throws(ConfigurationError) -> Int64 {
        guard case let .scalar(text, plain) = node, plain, let value = SettingValue.parseInteger(text) else {
            throw ConfigurationError(keyPath: path, message: "expected an integer, got \(kind(node))")
        }
        return value
    }

    static func list(_ node: ConfigNode, path: String) throws(ConfigurationError) -> [ConfigNode] {
        if case let .scalar(text, plain) = node, plain, isNull(text) { return [] }
        guard case let .sequence(items) = node else {
            throw ConfigurationError(keyPath: path, message: "expected a list, got \(kind(node))")
        }
        return items
    }

    static func mapping(_ node: ConfigNode, path: String) throws(ConfigurationError) -> [(String, ConfigNode)] {
        if case let .scalar(text, plain) = node, plain, isNull(text) { return [] }
        guard case let .mapping(mapping) = node else {
            throw ConfigurationError(keyPath: path.isEmpty ? "(top level)" : path, message: "expected a map, got \(kind(node))")
        }
        var pairs: [(String, ConfigNode)] = []
        var seen: Set<String> = []
        for (keyNode, value) in mapping {
            guard case let .scalar(key, _) = keyNode else {
                throw ConfigurationError(keyPath: path.isEmpty ? "(top level)" : path, message: "keys must be strings, got \(kind(keyNode))")
            }
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            guard seen.insert(key).inserted else { throw ConfigurationError(keyPath: keyPath, message: "duplicate key") }
            pairs.append((key, value))
        }
        return pairs
    }

    static func unknownKey(_ path: String) -> ConfigurationError {
        ConfigurationError(keyPath: path, message: "unknown key")
    }

    static func isNull(_ text: String) -> Bool {
        ["", "~", "null", "Null", "NULL"].contains(text)
    }

    /// How an error message names a node's kind: "a list", "a map", "null", "an integer", "a bool", "a string".
    static func kind(_ node: ConfigNode) -> String {
        switch node {
        case .sequence: return "a list"
        case .mapping: return "a map"
        case .alias: return "an alias"
        case let .scalar(text, plain):
            if !plain { return "a string" }
            if isNull(text) { return "null" }
            return SettingValue.inferred(from: text).kindDescription
        }
    }
}

extension ConfigurationParser {
/// True for names the ABI allows: `[A-Za-z][A-Za-z0-9_-]*`, at most VMH_NAME_MAX - 1 characters.
static func isValidName(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard let first = bytes.first, bytes.count < 32 else { return false }
    func isLetter(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
    guard isLetter(first) else { return false }
    return bytes.allSatisfy { isLetter($0) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 45 }
}
}
