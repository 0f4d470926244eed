// Register offsets and values of virtio-mmio (virtio 1.x, "modern", version 2) and of the virtio-blk device.

/// virtio-mmio register offsets.
enum VirtioMMIO {
    static let magicValue: UInt64 = 0x000
    static let version: UInt64 = 0x004
    static let deviceID: UInt64 = 0x008
    static let vendorID: UInt64 = 0x00c
    static let deviceFeatures: UInt64 = 0x010
    static let deviceFeaturesSel: UInt64 = 0x014
    static let driverFeatures: UInt64 = 0x020
    static let driverFeaturesSel: UInt64 = 0x024
    static let queueSel: UInt64 = 0x030
    static let queueNumMax: UInt64 = 0x034
    static let queueNum: UInt64 = 0x038
    static let queueReady: UInt64 = 0x044
    static let queueNotify: UInt64 = 0x050
    static let interruptStatus: UInt64 = 0x060
    static let interruptACK: UInt64 = 0x064
    static let status: UInt64 = 0x070
    static let queueDescLow: UInt64 = 0x080
    static let queueDescHigh: UInt64 = 0x084
    static let queueDriverLow: UInt64 = 0x090
    static let queueDriverHigh: UInt64 = 0x094
    static let queueDeviceLow: UInt64 = 0x0a0
    static let queueDeviceHigh: UInt64 = 0x0a4
    static let configGeneration: UInt64 = 0x0fc
    static let config: UInt64 = 0x100
    /// Size of the MMIO window (registers + device config).
    static let windowSize: UInt64 = 0x200

    /// "virt".
    static let magic: UInt32 = 0x7472_6976
    static let modernVersion: UInt32 = 2
    /// "VMHo" (VMHost).
    static let vendor: UInt32 = 0x6f48_4d56
}

/// Device status bits.
enum VirtioStatus {
    static let acknowledge: UInt32 = 1
    static let driver: UInt32 = 2
    static let driverOK: UInt32 = 4
    static let featuresOK: UInt32 = 8
    static let deviceNeedsReset: UInt32 = 64
    static let failed: UInt32 = 128
}

/// Feature bits.
enum VirtioFeature {
    static let blockSizeMax: UInt64 = 1 << 1
    static let blockSegMax: UInt64 = 1 << 2
    static let blockReadOnly: UInt64 = 1 << 5
    static let blockSize: UInt64 = 1 << 6
    static let blockFlush: UInt64 = 1 << 9
    static let version1: UInt64 = 1 << 32
}

/// Split-virtqueue descriptor flags.
enum VirtqDescriptorFlag {
    static let next: UInt16 = 1
    static let write: UInt16 = 2
    static let indirect: UInt16 = 4
}

/// Flags of the split virtqueue's available ring (written by the driver).
enum VirtqAvailFlag {
    /// The driver does not want an interrupt when buffers are used (it polls).
    static let noInterrupt: UInt16 = 1
}

/// virtio-blk request types and status values.
enum VirtioBlkRequest {
    static let typeIn: UInt32 = 0
    static let typeOut: UInt32 = 1
    static let typeFlush: UInt32 = 4
    static let typeGetID: UInt32 = 8
    static let statusOK: UInt8 = 0
    static let statusIOError: UInt8 = 1
    static let statusUnsupported: UInt8 = 2
    static let headerSize: UInt32 = 16
    static let idSize = 20
    static let sectorSize: UInt64 = 512
    /// The virtio device ID of a block device.
    static let deviceID: UInt32 = 2
}

/// One split-virtqueue descriptor as read from guest memory.
struct VirtqDescriptor {
    var address: UInt64
    var length: UInt32
    var flags: UInt16
    var next: UInt16

    var deviceWritable: Bool { flags & VirtqDescriptorFlag.write != 0 }
}
