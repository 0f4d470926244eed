extension DeviceConfig {
    /// Parses the command-line form of a device instance (`vmhost run --device …`):
    ///
    ///     NAME[,key=value…][,lunN=DRIVER[(key=value,…)][/DRIVER[(…)]…]]
    ///
    /// e.g. `Serial16550,iobase=0x3f8,irq=4,lun0=AsyncDelay(delay-ms=300)/Stdio(stream=stderr)`. Values are
    /// inferred: `true`/`false` are bools, decimal or `0x…` numbers integers, anything else a string. `order=N`
    /// sets the instantiation order. Errors name the argument as `--device[index]` plus the part at fault.
    public init(commandLine argument: String, index: Int = 0) throws(ConfigurationError) {
        let label = "--device[\(index)]"
        let parts = try CommandLineSyntax.splitTopLevel(argument, label: label)
        guard let first = parts.first, ConfigurationParser.isValidName(first) else {
            throw ConfigurationError(keyPath: label, message: "'\(argument)' must start with a device name ([A-Za-z][A-Za-z0-9_-]*)")
        }
        self.init(name: first)
        for part in parts.dropFirst() {
            guard let eq = part.firstIndex(of: "="), eq != part.startIndex else {
                throw ConfigurationError(keyPath: label, message: "'\(part)' is not key=value")
            }
            let key = String(part[..<eq])
            let value = String(part[part.index(after: eq)...])
            if key.hasPrefix("lun"), let n = UInt32(key.dropFirst(3)) {
                guard lunConfig(n) == nil else {
                    throw ConfigurationError(keyPath: "\(label).\(key)", message: "LUN \(n) is configured twice")
                }
                let drivers = try value.split(separator: "/", omittingEmptySubsequences: false).map {
                    (spec) throws(ConfigurationError) in try CommandLineSyntax.driver(String(spec), label: "\(label).\(key)")
                }
                guard let top = DriverConfig.chain(drivers) else {
                    throw ConfigurationError(keyPath: "\(label).\(key)", message: "names no driver")
                }
                luns.append(LUNConfig(lun: n, driver: top))
            } else if key == "order" {
                guard let order = SettingValue.parseInteger(value), order >= 0, order <= Int64(UInt32.max) else {
                    throw ConfigurationError(keyPath: "\(label).order", message: "expected an integer 0…\(UInt32.max), got '\(value)'")
                }
                self.order = UInt32(order)
            } else {
                guard settings[key] == nil else {
                    throw ConfigurationError(keyPath: "\(label).\(key)", message: "duplicate key")
                }
                settings[key] = SettingValue.inferred(from: value)
            }
        }
    }
}

/// Helpers for the `--device` syntax.
enum CommandLineSyntax {
    /// Splits at commas that are not inside parentheses.
    static func splitTopLevel(_ text: String, label: String) throws(ConfigurationError) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for ch in text {
            switch ch {
            case "(":
                depth += 1
                current.append(ch)
            case ")":
                depth -= 1
                guard depth >= 0 else { throw ConfigurationError(keyPath: label, message: "unbalanced ')' in '\(text)'") }
                current.append(ch)
            case "," where depth == 0:
                parts.append(current)
                current = ""
            default:
                current.append(ch)
            }
        }
        guard depth == 0 else { throw ConfigurationError(keyPath: label, message: "unbalanced '(' in '\(text)'") }
        parts.append(current)
        return parts
    }

    /// `NAME` or `NAME(key=value,…)`.
    static func driver(_ spec: String, label: String) throws(ConfigurationError) -> DriverConfig {
        var name = spec
        var settings: Settings = [:]
        if let open = spec.firstIndex(of: "(") {
            guard spec.hasSuffix(")") else {
                throw ConfigurationError(keyPath: label, message: "'\(spec)' must end with ')'")
            }
            name = String(spec[..<open])
            let inner = String(spec[spec.index(after: open)..<spec.index(before: spec.endIndex)])
            if !inner.isEmpty {
                for pair in try splitTopLevel(inner, label: label) {
                    guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                        throw ConfigurationError(keyPath: "\(label).\(name)", message: "'\(pair)' is not key=value")
                    }
                    let key = String(pair[..<eq])
                    guard settings[key] == nil else {
                        throw ConfigurationError(keyPath: "\(label).\(name).\(key)", message: "duplicate key")
                    }
                    settings[key] = SettingValue.inferred(from: String(pair[pair.index(after: eq)...]))
                }
            }
        }
        guard ConfigurationParser.isValidName(name) else {
            throw ConfigurationError(keyPath: label, message: "'\(name)' is not a valid driver name")
        }
        return DriverConfig(name: name, settings: settings)
    }
}
