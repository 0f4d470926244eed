import ArgumentParser
import CVMHostABI
import Foundation
import PDM
import PluginTestKit

/// `vmhost-bench plugin-dispatch`: the plugin half of an I/O exit — the host calling a registered port/MMIO
/// handler pointer — for the plain C Scratchpad and for Swift SDK devices (Serial16550; its THR write also crosses
/// the char-connector interface into the AsyncDelay driver). Calls the handler pointers the PDM registered
/// directly (no VMM lookup, no lock), so the figures are the cost of the plugin and the SDK's thunks (a heap
/// allocation per call would add tens of ns).
struct PluginDispatchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin-dispatch",
        abstract: "ns per handler call: C Scratchpad vs Swift SDK devices (no VMM, no lock).")

    @Option(help: "Calls per measurement.")
    var calls = 2_000_000

    @Option(help: "Measurements per case; the best counts.")
    var repeats = 5

    @Option(help: "Folder with the plugin .so files (default: the folder of this executable).")
    var plugins: String?

    struct BenchError: Error, CustomStringConvertible { let description: String }

    func run() throws {
        let folder = plugins ?? PluginTestHarness.productsDirectory
        let h = PluginTestHarness()
        for product in ["Scratchpad", "Serial16550", "AsyncDelay"] {
            try h.loadPlugin(path: "\(folder)/lib\(product).so")
        }
        h.addDevice(DeviceConfig(name: "Scratchpad"))
        h.addDevice(DeviceConfig(name: "Serial16550").lun(0, DriverConfig(name: "AsyncDelay")))
        try h.construct()
        defer { h.destroy() }

        let ports = h.vmm.portRanges
        let mmio = h.vmm.mmioRanges
        guard let scratchPorts = ports.first(where: { $0.port == 0x510 }),
              let serialPorts = ports.first(where: { $0.port == 0x3f8 }),
              let scratchMMIO = mmio.first(where: { $0.gpa == 0xd000_0000 }) else {
            throw BenchError(description: "expected Scratchpad at 0x510/0xd0000000 and Serial16550 at 0x3f8")
        }

        print("plugin-dispatch: \(calls) calls per case, best of \(repeats), handler pointers called directly")
        try measurePortOut("Scratchpad (C)   port doorbell out  ", scratchPorts, port: 0x518)
        try measureMMIOWrite("Scratchpad (C)   MMIO doorbell write", scratchMMIO, offset: 0x104)
        try measurePortIn("Scratchpad (C)   port latch in      ", scratchPorts, port: 0x510)
        try measurePortOut("Serial16550 (SDK) SCR out          ", serialPorts, port: 0x3ff)
        try measurePortIn("Serial16550 (SDK) LSR in           ", serialPorts, port: 0x3fd)
        try measurePortOut("Serial16550 (SDK) THR out→AsyncDelay", serialPorts, port: 0x3f8)
    }

    private func report(_ label: String, _ body: () -> Void) {
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
            best = min(best, elapsed / Double(calls))
        }
        print(String(format: "  %@  %6.1f ns/call", label, best))
    }

    private func measurePortOut(_ label: String, _ range: RecordingVMM.PortRange, port: UInt16) throws {
        guard let handler = range.outHandler else { throw BenchError(description: "\(label): no out handler") }
        let ins = range.device.devIns
        let user = range.user
        let n = calls
        report(label) {
            for i in 0..<n { _ = handler(ins, user, port, 1, UInt32(truncatingIfNeeded: i)) }
        }
    }

    private func measurePortIn(_ label: String, _ range: RecordingVMM.PortRange, port: UInt16) throws {
        guard let handler = range.inHandler else { throw BenchError(description: "\(label): no in handler") }
        let ins = range.device.devIns
        let user = range.user
        let n = calls
        var sink: UInt32 = 0
        report(label) {
            var value: UInt32 = 0
            for _ in 0..<n {
                _ = handler(ins, user, port, 1, &value)
                sink &+= value
            }
        }
        if sink == 0x1234_5678 { print("") }  // keep the reads observable
    }

    private func measureMMIOWrite(_ label: String, _ range: RecordingVMM.MMIORange, offset: UInt64) throws {
        guard let handler = range.writeHandler else { throw BenchError(description: "\(label): no write handler") }
        let ins = range.device.devIns
        let user = range.user
        let n = calls
        report(label) {
            var value: UInt32 = 1
            withUnsafeBytes(of: &value) { bytes in
                for _ in 0..<n { _ = handler(ins, user, offset, bytes.baseAddress, 4) }
            }
        }
    }
}
