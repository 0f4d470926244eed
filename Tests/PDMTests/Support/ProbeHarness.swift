import PDM
import PluginTestKit

/// A harness with the real Probe device and driver plugins loaded from the build products.
func probeHarness(deadline: Int64 = 10_000) throws -> PluginTestHarness {
    let h = PluginTestHarness(asyncDeadlineMilliseconds: deadline)
    try h.loadProduct("ProbeDevice")
    try h.loadProduct("ProbeDriver")
    return h
}

/// A Probe (or ProbeFirst) device with one driver chain per LUN (LUN i = chains[i], top first).
func probeDevice(_ name: String = "Probe", _ settings: Settings = [:], chains: [[DriverConfig]] = [],
                 order: UInt32? = nil) -> DeviceConfig {
    var s = settings
    if !chains.isEmpty && s["luns"] == nil { s["luns"] = .integer(Int64(chains.count)) }
    var device = DeviceConfig(name: name, order: order, settings: s)
    for (i, chain) in chains.enumerated() {
        if let top = DriverConfig.chain(chain) { device = device.lun(UInt32(i), top) }
    }
    return device
}

/// A Probe driver with `settings`.
func probeDriver(_ settings: Settings = [:]) -> DriverConfig {
    DriverConfig(name: "Probe", settings: settings)
}
