import PDM
import PluginTestKit
import Testing

/// The real Probe plugins (dlopen'ed from the build products) through the real registry and PDM.
@Suite struct ProbeSmokeTests {
    @Test func probeChainWalks() throws {
        let h = PluginTestHarness()
        try h.loadProduct("ProbeDevice")
        try h.loadProduct("ProbeDriver")
        h.addDevice(DeviceConfig(name: "Probe", settings: ["luns": .integer(1)])
            .lun(0, DriverConfig(name: "Probe", below: DriverConfig(name: "Probe"))))
        try h.construct()
        try h.powerOn()
        try h.suspend()
        try h.resume()
        try h.powerOff()
        h.destroy()
        try h.expectOrder(["Probe/0: construct", "Probe/0/0/Probe/0: construct", "Probe/0/0/Probe/1: construct",
                           "Probe/0/0/Probe/0: powerOn", "Probe/0/0/Probe/1: powerOn", "Probe/0: powerOn",
                           "Probe/0/0/Probe/0: suspend", "Probe/0/0/Probe/1: suspend", "Probe/0: suspend",
                           "Probe/0/0/Probe/0: resume", "Probe/0/0/Probe/1: resume", "Probe/0: resume",
                           "Probe/0/0/Probe/0: powerOff", "Probe/0/0/Probe/1: powerOff", "Probe/0: powerOff",
                           "Probe/0/0/Probe/1: destruct", "Probe/0/0/Probe/0: destruct", "Probe/0: destruct"])
    }
}
