/// The configuration of one virtual machine: where plugins live, PDM tunables, the machine, and the device
/// instances with their LUN driver chains. Parse it with `VMConfiguration(yaml:)` (JSON is valid YAML too) or build
/// it in code. See docs/configuration.md for the file format.
public struct VMConfiguration: Sendable, Equatable {
    /// Directories searched for plugin shared objects (`plugin-paths:`).
    public var pluginPaths: [String]
    /// PDM tunables (`pdm:`).
    public var pdm: PDMSettings
    /// Machine shape for the VMM (`machine:`).
    public var machine: MachineSettings
    /// Device instances in configuration order (`devices:`).
    public var devices: [DeviceConfig]

    public init(pluginPaths: [String] = [], pdm: PDMSettings = PDMSettings(), machine: MachineSettings = MachineSettings(),
                devices: [DeviceConfig] = []) {
        self.pluginPaths = pluginPaths
        self.pdm = pdm
        self.machine = machine
        self.devices = devices
    }

    /// Appends a device instance (builder style).
    @discardableResult
    public mutating func addDevice(_ device: DeviceConfig) -> Self {
        devices.append(device)
        return self
    }

    /// The device names the configuration uses (what a registry must provide to construct it).
    public var deviceNames: Set<String> { Set(devices.map(\.name)) }

    /// The driver names of every LUN chain, top to bottom.
    public var driverNames: Set<String> {
        Set(devices.flatMap { $0.luns.flatMap { $0.driver.chainTopToBottom.map(\.name) } })
    }
}

/// PDM tunables (`pdm:` in the file).
public struct PDMSettings: Sendable, Equatable {
    /// `async-deadline-ms`: how long a suspend, reset or power-off walk waits for asynchronous instances before it
    /// fails. Default 30000.
    public var asyncDeadlineMilliseconds: Int64

    public init(asyncDeadlineMilliseconds: Int64 = 30_000) {
        self.asyncDeadlineMilliseconds = asyncDeadlineMilliseconds
    }
}

/// Machine shape (`machine:` in the file). The PDM only keeps these; the VMM uses them.
public struct MachineSettings: Sendable, Equatable {
    /// `cpus`: number of vCPUs.
    public var cpus: Int?
    /// `memory-mib`: guest RAM in MiB.
    public var memoryMiB: Int?
    /// `kernel`: path of the PVH kernel / test guest ELF.
    public var kernel: String?
    /// `cmdline`: kernel command line.
    public var cmdline: String?

    public init(cpus: Int? = nil, memoryMiB: Int? = nil, kernel: String? = nil, cmdline: String? = nil) {
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.kernel = kernel
        self.cmdline = cmdline
    }
}

/// One device instance (`devices[i]`).
public struct DeviceConfig: Sendable, Equatable {
    /// Registration name of the device type.
    public var name: String
    /// Overrides the registration's instantiation order when set.
    public var order: UInt32?
    /// The instance's settings.
    public var settings: Settings
    /// LUN driver chains.
    public var luns: [LUNConfig]

    public init(name: String, order: UInt32? = nil, settings: Settings = [:], luns: [LUNConfig] = []) {
        self.name = name
        self.order = order
        self.settings = settings
        self.luns = luns
    }

    /// Returns a copy with a driver chain configured on `lun` (builder style).
    public func lun(_ lun: UInt32, _ driver: DriverConfig) -> DeviceConfig {
        var copy = self
        copy.luns.append(LUNConfig(lun: lun, driver: driver))
        return copy
    }

    /// The configured chain of `lun`, if any.
    public func lunConfig(_ lun: UInt32) -> LUNConfig? {
        luns.first { $0.lun == lun }
    }
}

/// One LUN of a device instance (`devices[i].luns[j]`): its number and the top driver of its chain.
public struct LUNConfig: Sendable, Equatable {
    /// LUN number (defaults to the position in the `luns:` list).
    public var lun: UInt32
    /// The top driver (attached to the device); its `below` continues the chain.
    public var driver: DriverConfig

    public init(lun: UInt32, driver: DriverConfig) {
        self.lun = lun
        self.driver = driver
    }
}

/// One driver in a LUN chain (`…driver`, `…driver.below`, …).
public struct DriverConfig: Sendable, Equatable {
    /// Registration name of the driver type.
    public var name: String
    /// The instance's settings.
    public var settings: Settings
    // An array so the recursive value type has a size; holds zero or one element.
    private var belowStorage: [DriverConfig]

    /// The driver configured below this one, if any.
    public var below: DriverConfig? {
        get { belowStorage.first }
        set { belowStorage = newValue.map { [$0] } ?? [] }
    }

    public init(name: String, settings: Settings = [:], below: DriverConfig? = nil) {
        self.name = name
        self.settings = settings
        self.belowStorage = below.map { [$0] } ?? []
    }

    /// Builds a chain from top to bottom: `DriverConfig.chain([a, b, c])` is a with b below it and c below b.
    public static func chain(_ drivers: [DriverConfig]) -> DriverConfig? {
        var result: DriverConfig?
        for var driver in drivers.reversed() {
            driver.below = result
            result = driver
        }
        return result
    }

    /// The chain from this driver down, top first.
    public var chainTopToBottom: [DriverConfig] {
        var list: [DriverConfig] = [self]
        var current = below
        while let next = current {
            list.append(next)
            current = next.below
        }
        return list
    }
}
