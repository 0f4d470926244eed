import Logging
import PDM

/// Where a VM built from a configuration gets its defaults.
public enum VirtualMachineDefaults {
    /// Guest RAM when `machine.memory-mib` is absent.
    public static let memoryMiB = 64
    /// vCPUs when `machine.cpus` is absent.
    public static let cpus = 1
}

/// The parts of a VM built by `VirtualMachine.create(configuration:registry:)`.
public struct VirtualMachineParts: @unchecked Sendable {
    /// The KVM machine (memory, vCPUs, I/O ranges).
    public let machine: Machine
    /// The PDM with the constructed device instances.
    public let pdm: PDMCore
}

extension VirtualMachine {
    /// Builds a VM from a configuration: the KVM machine (`machine.cpus`, `machine.memory-mib`), the PDM devices
    /// (constructed with the machine's services), the PVH guest (`machine.kernel`, `machine.cmdline`), then the
    /// EMTs (parked, state `created`). Call `powerOn()` to start it.
    ///
    /// Errors name the configuration key at fault (`machine.kernel`, `machine.cpus`, …) or the failing part.
    public static func create(configuration: VMConfiguration, registry: PluginRegistry,
                              pdm: PDMCore = PDMCore(),
                              logger: Logger = Logger(label: "vmhost.vm")) throws(VMError) -> VirtualMachine {
        let settings = configuration.machine
        let cpus = settings.cpus ?? VirtualMachineDefaults.cpus
        let memoryMiB = settings.memoryMiB ?? VirtualMachineDefaults.memoryMiB
        guard cpus >= 1 else {
            throw .machineFailed(operation: "create", message: "machine.cpus must be at least 1 (got \(cpus))")
        }
        // The upper bound matches the configuration parser's; `--memory` bypasses the parser, and beyond it
        // `UInt64(memoryMiB) << 20` would silently drop high bits (e.g. 2^44 + 64 MiB became 64 MiB).
        guard memoryMiB >= 1, memoryMiB <= 1 << 20 else {
            throw .machineFailed(operation: "create", message: "machine.memory-mib must be 1…1048576 (got \(memoryMiB))")
        }
        guard let kernel = settings.kernel, !kernel.isEmpty else {
            throw .machineFailed(operation: "create", message: "machine.kernel is missing: no guest to load")
        }
        let machine: Machine
        do {
            machine = try Machine(configuration: MachineConfiguration(memorySize: UInt64(memoryMiB) << 20,
                                                                      vcpuCount: cpus))
        } catch {
            throw .machineFailed(operation: "create (machine.cpus \(cpus), machine.memory-mib \(memoryMiB))",
                                 message: "\(error)")
        }
        let services = MachineServices(machine: machine)
        do {
            try pdm.construct(config: configuration, registry: registry, services: services)
        } catch {
            throw .machineFailed(operation: "construct devices", message: "\(error)")
        }
        // The configured command line, then the words devices asked for (e.g. virtio_mmio.device=…).
        let commandLine = ([settings.cmdline ?? ""] + services.kernelCommandLineWords)
            .filter { !$0.isEmpty }.joined(separator: " ")
        do {
            try machine.loadPVHKernel(path: kernel, commandLine: commandLine)
        } catch {
            pdm.destroy()
            throw .machineFailed(operation: "load machine.kernel \(kernel)", message: "\(error)")
        }
        machine.freezeIORanges()
        let executors = machine.makeExecutors()
        guard executors.count == cpus else {
            pdm.destroy()
            throw .invalidVCPU(id: executors.count, count: cpus)
        }
        let vm: VirtualMachine
        do {
            vm = try VirtualMachine(vcpus: executors, devices: PDMDeviceControl(pdm: pdm),
                                    machine: MachineResetControl(machine: machine), logger: logger)
        } catch {
            pdm.destroy()
            throw error
        }
        vm.parts = VirtualMachineParts(machine: machine, pdm: pdm)
        machine.connect(to: vm)
        return vm
    }
}
