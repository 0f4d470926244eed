import CVMHostABI

/// The VMM half of the device helpers. The PDM forwards a device's `ioPortRegister`, `mmioRegister`, `physRead`,
/// `physWrite`, `setIrq`, `timer*`, `vmPowerOff` and `vmSuspend` calls here after checking what it can (arguments,
/// "only during construct"). Every method returns a VMH status (`VMH_OK` or a negative `VMH_ERR_*`).
///
/// Threads: `register*` and `timerCreate` run on the VM-creating thread during construct; the rest may be called
/// from any EMT, timer or plugin thread, so implementations must be thread-safe. Handlers registered here must be
/// called with the device's lock held (`DeviceInstance.withLock`).
public protocol VMMServices: AnyObject, Sendable {
    /// Route guest port I/O `[port, port+count)` to `in`/`out` (either may be nil).
    func registerPortIO(device: DeviceInstance, port: UInt16, count: UInt16, user: UnsafeMutableRawPointer?,
                        in: VMHIoPortIn?, out: VMHIoPortOut?, description: String) -> Int32
    /// Route guest MMIO `[gpa, gpa+size)` to `read`/`write`.
    func registerMMIO(device: DeviceInstance, gpa: UInt64, size: UInt64, user: UnsafeMutableRawPointer?,
                      read: VMHMmioRead?, write: VMHMmioWrite?, description: String) -> Int32
    /// Copy guest-physical memory into `buffer`; VMH_ERR_OUT_OF_RANGE if any byte is outside guest RAM.
    func physRead(device: DeviceInstance, gpa: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int32
    /// Copy `buffer` into guest-physical memory, bounds-checked like `physRead`.
    func physWrite(device: DeviceInstance, gpa: UInt64, from buffer: UnsafeRawBufferPointer) -> Int32
    /// Drive interrupt line `irq` to `level` (0 or 1).
    func setIRQ(device: DeviceInstance, irq: UInt32, level: Int32) -> Int32
    /// Create a one-shot timer; store its handle in `timer`.
    func timerCreate(device: DeviceInstance, callback: VMHTimerCallback, user: UnsafeMutableRawPointer?,
                     description: String, timer: inout UInt64) -> Int32
    /// Arm `timer` to fire `nanoseconds` from now.
    func timerArm(device: DeviceInstance, timer: UInt64, nanoseconds: UInt64) -> Int32
    /// Disarm `timer`.
    func timerStop(device: DeviceInstance, timer: UInt64) -> Int32
    /// Ask the VM to power off and the process to exit with `exitStatus` once off. Returns at once.
    func requestPowerOff(device: DeviceInstance, exitStatus: Int32) -> Int32
    /// Ask the VM to suspend with `reason` (VMH_SUSPEND_REASON_*). Returns at once.
    func requestSuspend(device: DeviceInstance, reason: Int32) -> Int32
    /// `ioEventFdRegister` (default: VMH_ERR_NOT_SUPPORTED).
    func registerIOEventFD(device: DeviceInstance, fd: Int32, space: UInt32, address: UInt64, length: UInt32,
                           flags: UInt32, value: UInt64) -> Int32
    /// `irqFdRegister` (default: VMH_ERR_NOT_SUPPORTED).
    func registerIRQFD(device: DeviceInstance, fd: Int32, irq: UInt32, flags: UInt32) -> Int32
    /// `kernelCmdlineAppend` (default: VMH_ERR_NOT_SUPPORTED). The PDM has checked the word and the phase.
    func appendKernelCommandLine(device: DeviceInstance, word: String) -> Int32
    /// `deviceClockNanoseconds`: the clock the device's timers run on, into `now` (default: VMH_ERR_NOT_SUPPORTED).
    func deviceClockNanoseconds(device: DeviceInstance, now: inout UInt64) -> Int32
    /// `timerArmAt`: arm `timer` for device-clock time `deadline` (default: VMH_ERR_NOT_SUPPORTED).
    func timerArmAt(device: DeviceInstance, timer: UInt64, deadline: UInt64) -> Int32
}

/// Kernel event bindings (device helpers minor 1): optional; a VMM without them answers VMH_ERR_NOT_SUPPORTED
/// and devices fall back to their I/O callbacks and `setIRQ`.
extension VMMServices {
    /// Bind eventfd `fd` to guest writes of `length` bytes at `address` (`space`: VMH_IOEVENT_SPACE_*; `flags`:
    /// VMH_IOEVENT_F_*; `value` is the data match). The PDM has checked the arguments and that `address` lies in a
    /// range of `device`.
    public func registerIOEventFD(device: DeviceInstance, fd: Int32, space: UInt32, address: UInt64, length: UInt32,
                                  flags: UInt32, value: UInt64) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    /// Bind eventfd `fd` to interrupt line `irq` (`flags`: VMH_IRQFD_F_*).
    public func registerIRQFD(device: DeviceInstance, fd: Int32, irq: UInt32, flags: UInt32) -> Int32 {
        VMH_ERR_NOT_SUPPORTED
    }
    /// Add `word` to the guest's kernel command line.
    public func appendKernelCommandLine(device: DeviceInstance, word: String) -> Int32 { VMH_ERR_NOT_SUPPORTED }
}

/// The device clock (device helpers minor 2): optional; a VMM without it answers VMH_ERR_NOT_SUPPORTED.
extension VMMServices {
    /// The device clock now (ns) into `now`.
    public func deviceClockNanoseconds(device: DeviceInstance, now: inout UInt64) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    /// Arm `timer` (owned by `device`) to fire when the device clock reaches `deadline`.
    public func timerArmAt(device: DeviceInstance, timer: UInt64, deadline: UInt64) -> Int32 { VMH_ERR_NOT_SUPPORTED }
}

/// The services of a PDM with no VMM behind it: every method returns VMH_ERR_NOT_SUPPORTED.
public final class NullVMMServices: VMMServices {
    public init() {}
    public func registerPortIO(device: DeviceInstance, port: UInt16, count: UInt16, user: UnsafeMutableRawPointer?,
                               in: VMHIoPortIn?, out: VMHIoPortOut?, description: String) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    public func registerMMIO(device: DeviceInstance, gpa: UInt64, size: UInt64, user: UnsafeMutableRawPointer?,
                             read: VMHMmioRead?, write: VMHMmioWrite?, description: String) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    public func physRead(device: DeviceInstance, gpa: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    public func physWrite(device: DeviceInstance, gpa: UInt64, from buffer: UnsafeRawBufferPointer) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    public func setIRQ(device: DeviceInstance, irq: UInt32, level: Int32) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    public func timerCreate(device: DeviceInstance, callback: VMHTimerCallback, user: UnsafeMutableRawPointer?,
                            description: String, timer: inout UInt64) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    public func timerArm(device: DeviceInstance, timer: UInt64, nanoseconds: UInt64) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    public func timerStop(device: DeviceInstance, timer: UInt64) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    public func requestPowerOff(device: DeviceInstance, exitStatus: Int32) -> Int32 { VMH_ERR_NOT_SUPPORTED }
    public func requestSuspend(device: DeviceInstance, reason: Int32) -> Int32 { VMH_ERR_NOT_SUPPORTED }
}
