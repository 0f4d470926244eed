import CVMHostABI
import KVM
import Logging
import PDM
import Synchronization

/// The VMM half of the device helpers for one `Machine`: the PDM's `VMMServices`.
///
/// Port and MMIO registrations go into the machine's `IORangeTable` (conflicts are logged naming both owners),
/// guest-physical access goes through `GuestMemory`, `setIRQ` drives an in-kernel irqchip line, power-off and
/// suspend requests are parked in `Machine.pendingRequests`, timers run on `Machine.timers`.
///
/// The machine is held weakly: device instances hold their services and the machine's I/O table holds the device
/// instances, so a strong reference would keep every VM's RAM and KVM descriptors alive forever. A call after the
/// machine is gone answers `VMH_ERR_WRONG_STATE`.
public final class MachineServices: VMMServices, @unchecked Sendable {
    /// The machine served (nil once it was released).
    public private(set) weak var machine: Machine?
    private let logger: Logger
    private let refusals = Mutex<[IORangeError]>([])
    private let commandLineWords = Mutex<[String]>([])

    /// Every refused port / MMIO registration, in order (each message names both owners of a conflict).
    public var registrationErrors: [IORangeError] { refusals.withLock { $0 } }

    private func refuse(_ error: IORangeError) -> Int32 {
        logger.error("\(error)")
        refusals.withLock { $0.append(error) }
        return Self.status(of: error)
    }

    public init(machine: Machine, logger: Logger = Logger(label: "vmhost.vmm.io")) {
        self.machine = machine
        self.logger = logger
    }

    public func registerPortIO(device: DeviceInstance, port: UInt16, count: UInt16, user: UnsafeMutableRawPointer?,
                               in: VMHIoPortIn?, out: VMHIoPortOut?, description: String) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        do {
            try machine.ioRanges.registerPorts(PortIORange(
                base: port, count: count, device: device, user: user, input: `in`, output: out,
                description: description))
            return VMH_OK
        } catch {
            return refuse(error)
        }
    }

    public func registerMMIO(device: DeviceInstance, gpa: UInt64, size: UInt64, user: UnsafeMutableRawPointer?,
                             read: VMHMmioRead?, write: VMHMmioWrite?, description: String) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        let range = MMIORange(base: gpa, size: size, device: device, user: user, read: read, write: write,
                              description: description)
        for region in machine.memory.layout.regions
        where size > 0 && gpa < region.guestPhysicalAddress + region.size && region.guestPhysicalAddress < gpa &+ size {
            return refuse(.overlapsRAM(range: range.label, owner: device.name))
        }
        do {
            try machine.ioRanges.registerMMIO(range)
            return VMH_OK
        } catch {
            return refuse(error)
        }
    }

    static func status(of error: IORangeError) -> Int32 {
        switch error {
        case .conflict, .overlapsRAM: return VMH_ERR_RANGE_CONFLICT
        case .invalidRange: return VMH_ERR_INVALID_PARAMETER
        case .frozen: return VMH_ERR_WRONG_STATE
        }
    }

    public func physRead(device: DeviceInstance, gpa: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        do {
            try machine.memory.read(at: gpa, into: buffer)
            return VMH_OK
        } catch {
            return VMH_ERR_OUT_OF_RANGE
        }
    }

    public func physWrite(device: DeviceInstance, gpa: UInt64, from buffer: UnsafeRawBufferPointer) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        do {
            try machine.memory.write(at: gpa, from: buffer)
            return VMH_OK
        } catch {
            return VMH_ERR_OUT_OF_RANGE
        }
    }

    public func setIRQ(device: DeviceInstance, irq: UInt32, level: Int32) -> Int32 {
        guard irq < 24, level == 0 || level == 1 else { return VMH_ERR_INVALID_PARAMETER }
        guard let machine else { return VMH_ERR_WRONG_STATE }
        do {
            try machine.vm.setIRQLine(irq, level: level == 1)
            return VMH_OK
        } catch {
            logger.error("\(device.name): \(error)")
            return VMH_ERR_GENERAL
        }
    }

    public func timerCreate(device: DeviceInstance, callback: VMHTimerCallback, user: UnsafeMutableRawPointer?,
                            description: String, timer: inout UInt64) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        timer = machine.timers.create(device: device, callback: callback, user: user, description: description)
        return VMH_OK
    }

    public func timerArm(device: DeviceInstance, timer: UInt64, nanoseconds: UInt64) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        return machine.timers.arm(timer, device: device, nanoseconds: nanoseconds)
    }

    public func timerArmAt(device: DeviceInstance, timer: UInt64, deadline: UInt64) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        return machine.timers.arm(timer, device: device, deadline: deadline)
    }

    /// The machine's device clock (the one its timers run on).
    public func deviceClockNanoseconds(device: DeviceInstance, now: inout UInt64) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        now = machine.timers.clockNanoseconds
        return VMH_OK
    }

    public func timerStop(device: DeviceInstance, timer: UInt64) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        return machine.timers.stop(timer, device: device)
    }

    public func requestPowerOff(device: DeviceInstance, exitStatus: Int32) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        machine.pendingRequests.requestPowerOff(exitStatus: exitStatus)
        return VMH_OK
    }

    public func requestSuspend(device: DeviceInstance, reason: Int32) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        machine.pendingRequests.requestSuspend(reason: reason)
        return VMH_OK
    }

    /// `KVM_IOEVENTFD` for an address inside one of `device`'s own port or MMIO ranges.
    public func registerIOEventFD(device: DeviceInstance, fd: Int32, space: UInt32, address: UInt64, length: UInt32,
                                  flags: UInt32, value: UInt64) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        let end = address + UInt64(length)
        let owned: Bool
        if space == VMH_IOEVENT_SPACE_PORT {
            owned = machine.ioRanges.registeredPorts.contains {
                $0.device === device && UInt64($0.base) <= address && end <= UInt64($0.base) + UInt64($0.count)
            }
        } else {
            owned = machine.ioRanges.registeredMMIO.contains {
                $0.device === device && $0.base <= address && end <= $0.base + $0.size
            }
        }
        guard owned else {
            logger.error("\(device.name): ioeventfd at 0x\(String(address, radix: 16)) is outside its own ranges")
            return VMH_ERR_INVALID_PARAMETER
        }
        do {
            try machine.vm.registerIOEventFD(fd, space: space == VMH_IOEVENT_SPACE_PORT ? .pio : .mmio,
                                             address: address, length: length,
                                             dataMatch: flags & VMH_IOEVENT_F_DATAMATCH != 0 ? value : nil,
                                             deassign: flags & VMH_IOEVENT_F_DEASSIGN != 0)
            return VMH_OK
        } catch {
            logger.error("\(device.name): \(error)")
            return VMH_ERR_GENERAL
        }
    }

    /// Words devices added to the guest's kernel command line, in order (`kernelCmdlineAppend`).
    public var kernelCommandLineWords: [String] { commandLineWords.withLock { $0 } }

    public func appendKernelCommandLine(device: DeviceInstance, word: String) -> Int32 {
        commandLineWords.withLock { $0.append(word) }
        return VMH_OK
    }

    /// `KVM_IRQFD` on GSI `irq` (0...23, the IOAPIC pins).
    public func registerIRQFD(device: DeviceInstance, fd: Int32, irq: UInt32, flags: UInt32) -> Int32 {
        guard let machine else { return VMH_ERR_WRONG_STATE }
        guard irq < 24 else { return VMH_ERR_INVALID_PARAMETER }
        do {
            try machine.vm.registerIRQFD(fd, gsi: irq, deassign: flags & VMH_IRQFD_F_DEASSIGN != 0)
            return VMH_OK
        } catch {
            logger.error("\(device.name): \(error)")
            return VMH_ERR_GENERAL
        }
    }
}
