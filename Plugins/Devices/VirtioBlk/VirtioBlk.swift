// VirtioBlk: a virtio-blk device on virtio-mmio (virtio 1.x modern registers, one split virtqueue). Settings:
// `mmio-base` (default 0xd0001000), `irq` (default 10), `queue-size` (maximum queue size, power of two 2...1024,
// default 256), `ioeventfd` / `irqfd` (bool, default true: use them when the host offers them), `serial` (the
// GET_ID string, default "vmhost-blk<instance>"). The guest finds the device through the kernel command line
// word `virtio_mmio.device=512@<mmio-base>:<irq>`, which the device appends with kernelCmdlineAppend (and logs).
//
// LUN 0 takes a block chain (VMH_IID_BLOCK_CONNECTOR, e.g. Block -> RawFile); requests go down with a bounce
// buffer and complete up through the VMH_IID_BLOCK_PORT this device offers. Every guest-physical access goes
// through physRead/physWrite. A malformed request — descriptor index out of range, a loop, a descriptor outside
// guest RAM, an indirect descriptor (not negotiated), a data length over the limits — fails that request with
// VIRTIO_BLK_S_IOERR (when its status byte can be found) and is logged; nothing else is affected.
//
// Threads: queue notifications come from the EMT (MMIO write) or, with ioeventfd, from the device's own notify
// thread; completions come from the medium's I/O thread. The device is THREAD_SAFE and guards its state with one
// lock. Suspend and power-off (FIRST flags: the device goes before its chain) stop taking requests; the Block
// driver below then waits for the ones in flight. Resume picks up notifications that came meanwhile.
import PluginSDK
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The VirtioBlk device.
final class VirtioBlk: DevicePlugin, @unchecked Sendable {
    static let name = "VirtioBlk"
    static let description = "virtio-blk on virtio-mmio (modern); block chain on LUN 0"
    static let order = DeviceOrder.storage
    static let flags: DeviceFlags = [.threadSafe, .firstSuspend, .firstPowerOff]
    static let maxInstances: UInt32 = 8

    /// Largest data descriptor (VIRTIO_BLK_F_SIZE_MAX) and whole request.
    static let segmentSizeMax: UInt32 = 1 << 20
    static let requestBytesMax: UInt64 = 4 << 20

    private let context: DeviceContext
    let base: UInt64
    let irq: UInt32
    private let queueSizeMax: UInt16
    private let segmentsMax: Int
    private let disk: BlockConnector
    private let capacityBytes: UInt64
    private let readOnly: Bool
    private let deviceFeatures: UInt64
    private let serial: [UInt8]
    private var port: OfferedBlockPort?
    private var slots: [RequestSlot] = []
    private var chain: [VirtqDescriptor] = []
    private var notifyEvent: EventFD?
    private var stopEvent: EventFD?
    private var interruptEvent: EventFD?
    private var notifyThread: WorkerThread?

    private let lock = ConditionLock()
    /// The thread inside `disk.submit` (0: none), to catch a chain that completes from inside submit.
    private let submittingThread = Atomic<UInt>(0)
    // Guarded by `lock`:
    private var status: UInt32 = 0
    private var deviceFeaturesSel: UInt32 = 0
    private var driverFeaturesSel: UInt32 = 0
    private var driverFeatures: UInt64 = 0
    private var queueSel: UInt32 = 0
    private var queueNum: UInt16
    private var queueReady = false
    private var descriptorTable: UInt64 = 0
    private var availRing: UInt64 = 0
    private var usedRing: UInt64 = 0
    private var lastAvail: UInt16 = 0
    private var usedIndex: UInt16 = 0
    private var interruptStatus: UInt32 = 0
    private var irqHigh = false
    private var generation: UInt64 = 0
    private var inFlight = 0
    /// Requests from before the last device reset still with the block chain. Until they are back (and dropped),
    /// the queue is not served: their slots, bounce buffers and disk writes stay ahead of the new driver's.
    private var staleInFlight = 0
    private var suspended = false
    private var notifyPending = false
    private var malformed = 0

    init(context: DeviceContext) throws {
        self.context = context
        try context.config.validate(keys: ["mmio-base", "irq", "queue-size", "ioeventfd", "irqfd", "serial"])
        base = try context.config.integer("mmio-base", as: UInt64.self, default: 0xd000_1000,
                                          in: 0x1000...0xffff_f000)
        guard base % 0x200 == 0 else {
            throw ConfigError.invalidValue(key: "mmio-base", message: "must be 512-byte aligned")
        }
        irq = try context.config.integer("irq", as: UInt32.self, default: 10, in: 1...23)
        queueSizeMax = try context.config.integer("queue-size", as: UInt16.self, default: 256, in: 2...1024)
        guard queueSizeMax & (queueSizeMax - 1) == 0 else {
            throw ConfigError.invalidValue(key: "queue-size", message: "\(queueSizeMax) is not a power of two")
        }
        let wantIOEventFD = try context.config.bool("ioeventfd", default: true)
        let wantIRQFD = try context.config.bool("irqfd", default: true)
        serial = Array(try context.config.string("serial", default: "vmhost-blk\(context.instanceNumber)").utf8
            .prefix(VirtioBlkRequest.idSize))
        queueNum = queueSizeMax
        segmentsMax = min(Int(queueSizeMax) - 2, 254)

        guard try context.attachDriver(lun: 0) else {
            throw PluginError(.noDriverAttached, "VirtioBlk needs a block driver chain on LUN 0 (e.g. Block -> RawFile)")
        }
        guard let disk = context.lunInterface(BlockConnector.self, lun: 0) else {
            throw PluginError(.notSupported, "the driver on LUN 0 offers no \(InterfaceID.blockConnector)")
        }
        self.disk = disk
        capacityBytes = disk.size / VirtioBlkRequest.sectorSize * VirtioBlkRequest.sectorSize
        readOnly = disk.isReadOnly
        deviceFeatures = VirtioFeature.version1 | VirtioFeature.blockFlush | VirtioFeature.blockSegMax
            | VirtioFeature.blockSizeMax | VirtioFeature.blockSize | (readOnly ? VirtioFeature.blockReadOnly : 0)

        slots = (0..<Int(queueSizeMax)).map { _ in RequestSlot(maxSegments: Int(queueSizeMax)) }
        chain.reserveCapacity(Int(queueSizeMax))
        let port = OfferedBlockPort(complete: { [unowned self] request, status in self.completed(request, status) })
        context.offer(port, lun: 0)
        self.port = port

        try context.registerMMIO(base: base, size: VirtioMMIO.windowSize, description: "virtio-blk",
                                 read: { [unowned self] offset, size in self.read(offset, size) },
                                 write: { [unowned self] offset, size, value in self.write(offset, size, value) })
        if wantIOEventFD { try setUpIOEventFD() }
        if wantIRQFD { setUpIRQFD() }
        let word = "virtio_mmio.device=512@0x\(String(base, radix: 16)):\(irq)"
        let announced = announce(word)
        context.log("capacity \(capacityBytes / 512) sectors\(readOnly ? " (read-only)" : ""), "
                    + "ioeventfd \(notifyEvent == nil ? "off" : "on"), irqfd \(interruptEvent == nil ? "off" : "on"); "
                    + "guest: \(word)\(announced ? " (added to the kernel command line)" : "")")
    }

    /// Binds QueueNotify to an eventfd served by the notify thread; when the host cannot, the MMIO write path
    /// stays in charge.
    private func setUpIOEventFD() throws(PluginError) {
        let event = try EventFD()
        let status = bindNotify(event)
        if status == .notSupported {
            context.log(.debug, "no ioeventfd from the host: queue notifications exit to the device")
            return
        }
        guard status == .ok else {
            context.log(.warning, "binding QueueNotify to an ioeventfd failed (\(status)); notifications exit instead")
            return
        }
        let stop = try EventFD()
        notifyEvent = event
        stopEvent = stop
        notifyThread = try WorkerThread.start(name: "virtio-notify") { [unowned self] in self.runNotifyThread() }
    }

    /// Puts the device's command-line word on the guest's kernel command line when the host can.
    private func announce(_ word: String) -> Bool {
        do {
            try context.appendKernelCommandLine(word)
            return true
        } catch {
            return false
        }
    }

    private func bindNotify(_ event: EventFD) -> PluginStatus {
        do {
            try context.bindIOEvent(event, space: .mmio, address: base + VirtioMMIO.queueNotify, length: 4)
            return .ok
        } catch {
            return error.status
        }
    }

    private func setUpIRQFD() {
        do {
            let event = try EventFD()
            try context.bindIRQ(event, irq: irq)
            interruptEvent = event
        } catch {
            context.log(.debug, "no irqfd from the host (\(error.status)): interrupts go through setIrq")
        }
    }

    func queryInterface(lun: UInt32, iid: InterfaceID) -> UnsafeMutableRawPointer? {
        lun == 0 ? port?.answer(iid) : nil
    }

    // MARK: Power

    func powerOn() throws {
        lock.withLock { suspended = false }  // a VM powered off and on again takes requests again
    }

    func suspend() -> PowerResult {
        lock.withLock { suspended = true }
        return .done
    }

    func resume() throws {
        lock.withLock {
            suspended = false
            if notifyPending {
                notifyPending = false
                processQueue()
            }
        }
    }

    func powerOff() -> PowerResult {
        lock.withLock { suspended = true }
        return .done
    }

    func reset() -> PowerResult {
        lock.withLock {
            resetDevice()
            suspended = false
        }
        return .done
    }

    func destruct() {
        stopEvent?.signal()
        notifyThread?.join()
        notifyThread = nil
    }

    private func runNotifyThread() {
        guard let notifyEvent, let stopEvent else { return }
        while true {
            let (notified, stop) = notifyEvent.wait(orOther: stopEvent, milliseconds: -1)
            if stop { return }
            if notified {
                notifyEvent.drain()
                lock.withLock { processQueue() }
            }
        }
    }

    // MARK: Registers

    private func read(_ offset: UInt64, _ size: Int) -> UInt64 {
        if offset >= VirtioMMIO.config { return readConfig(offset - VirtioMMIO.config, size) }
        return lock.withLock { () -> UInt64 in
            switch offset {
            case VirtioMMIO.magicValue: return UInt64(VirtioMMIO.magic)
            case VirtioMMIO.version: return UInt64(VirtioMMIO.modernVersion)
            case VirtioMMIO.deviceID: return UInt64(VirtioBlkRequest.deviceID)
            case VirtioMMIO.vendorID: return UInt64(VirtioMMIO.vendor)
            case VirtioMMIO.deviceFeatures:
                switch deviceFeaturesSel {
                case 0: return deviceFeatures & 0xffff_ffff
                case 1: return deviceFeatures >> 32
                default: return 0
                }
            case VirtioMMIO.queueNumMax: return queueSel == 0 ? UInt64(queueSizeMax) : 0
            case VirtioMMIO.queueNum: return queueSel == 0 ? UInt64(queueNum) : 0
            case VirtioMMIO.queueReady: return queueSel == 0 && queueReady ? 1 : 0
            case VirtioMMIO.interruptStatus: return UInt64(interruptStatus)
            case VirtioMMIO.status: return UInt64(status)
            case VirtioMMIO.configGeneration: return 0
            case VirtioMMIO.queueDescLow: return descriptorTable & 0xffff_ffff
            case VirtioMMIO.queueDescHigh: return descriptorTable >> 32
            case VirtioMMIO.queueDriverLow: return availRing & 0xffff_ffff
            case VirtioMMIO.queueDriverHigh: return availRing >> 32
            case VirtioMMIO.queueDeviceLow: return usedRing & 0xffff_ffff
            case VirtioMMIO.queueDeviceHigh: return usedRing >> 32
            default: return 0
            }
        }
    }

    /// virtio_blk_config: capacity (u64, sectors), size_max, seg_max, geometry (0), blk_size (512).
    private func readConfig(_ offset: UInt64, _ size: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<UInt64(size) {
            let at = offset + i
            let byte: UInt64
            switch at {
            case 0..<8: byte = ((capacityBytes / 512) >> (8 * at)) & 0xff
            case 8..<12: byte = (UInt64(Self.segmentSizeMax) >> (8 * (at - 8))) & 0xff
            case 12..<16: byte = (UInt64(segmentsMax) >> (8 * (at - 12))) & 0xff
            case 20..<24: byte = (UInt64(512) >> (8 * (at - 20))) & 0xff
            default: byte = 0
            }
            value |= byte << (8 * i)
        }
        return value
    }

    private func write(_ offset: UInt64, _ size: Int, _ value64: UInt64) {
        guard offset < VirtioMMIO.config else { return }  // the config space is read-only
        let value = UInt32(truncatingIfNeeded: value64)
        lock.withLock {
            switch offset {
            case VirtioMMIO.deviceFeaturesSel: deviceFeaturesSel = value
            case VirtioMMIO.driverFeaturesSel: driverFeaturesSel = value
            case VirtioMMIO.driverFeatures:
                guard status & VirtioStatus.featuresOK == 0 else { return }
                switch driverFeaturesSel {
                case 0: driverFeatures = driverFeatures & ~0xffff_ffff | UInt64(value)
                case 1: driverFeatures = driverFeatures & 0xffff_ffff | UInt64(value) << 32
                default: break
                }
            case VirtioMMIO.queueSel: queueSel = value
            case VirtioMMIO.queueNum:
                guard queueSel == 0, !queueReady else { return }
                if value >= 1, value <= UInt32(queueSizeMax), value & (value - 1) == 0 {
                    queueNum = UInt16(value)
                } else {
                    reportMalformed("queue size \(value) refused (power of two up to \(queueSizeMax))")
                }
            case VirtioMMIO.queueReady:
                guard queueSel == 0 else { return }
                if value & 1 == 0 { queueReady = false } else { enableQueue() }
            case VirtioMMIO.queueNotify:
                processQueue()
            case VirtioMMIO.interruptACK:
                interruptStatus &= ~value
                updateLineAfterACK()
            case VirtioMMIO.status:
                writeStatus(value)
            case VirtioMMIO.queueDescLow: setAddress(&descriptorTable, low: value)
            case VirtioMMIO.queueDescHigh: setAddress(&descriptorTable, high: value)
            case VirtioMMIO.queueDriverLow: setAddress(&availRing, low: value)
            case VirtioMMIO.queueDriverHigh: setAddress(&availRing, high: value)
            case VirtioMMIO.queueDeviceLow: setAddress(&usedRing, low: value)
            case VirtioMMIO.queueDeviceHigh: setAddress(&usedRing, high: value)
            default: break
            }
        }
    }

    private func setAddress(_ address: inout UInt64, low: UInt32) {
        guard queueSel == 0, !queueReady else { return }
        address = address & ~0xffff_ffff | UInt64(low)
    }

    private func setAddress(_ address: inout UInt64, high: UInt32) {
        guard queueSel == 0, !queueReady else { return }
        address = address & 0xffff_ffff | UInt64(high) << 32
    }

    private func writeStatus(_ value: UInt32) {
        if value == 0 {
            resetDevice()
            return
        }
        var accepted = value & 0xff
        if accepted & VirtioStatus.featuresOK != 0 && status & VirtioStatus.featuresOK == 0 {
            if driverFeatures & ~deviceFeatures != 0 || driverFeatures & VirtioFeature.version1 == 0 {
                reportMalformed("driver features 0x\(String(driverFeatures, radix: 16)) refused (device offers "
                                + "0x\(String(deviceFeatures, radix: 16)); VIRTIO_F_VERSION_1 is required)")
                accepted &= ~VirtioStatus.featuresOK
            }
        }
        status = accepted | (status & VirtioStatus.deviceNeedsReset)
    }

    /// QueueReady ← 1: the rings must lie in guest RAM.
    private func enableQueue() {
        let n = UInt64(queueNum)
        let rings: [(UInt64, UInt64, String)] = [(descriptorTable, 16 * n, "descriptor table"),
                                                  (availRing, 6 + 2 * n, "available ring"),
                                                  (usedRing, 6 + 8 * n, "used ring")]
        for (address, length, what) in rings where !guestRangeReadable(address, length) {
            reportMalformed("\(what) at 0x\(String(address, radix: 16)) (\(length) bytes) is outside guest RAM; "
                            + "queue not enabled")
            status |= VirtioStatus.deviceNeedsReset
            return
        }
        queueReady = true
    }

    private func resetDevice() {
        status = 0
        deviceFeaturesSel = 0
        driverFeaturesSel = 0
        driverFeatures = 0
        queueSel = 0
        queueNum = queueSizeMax
        queueReady = false
        descriptorTable = 0
        availRing = 0
        usedRing = 0
        lastAvail = 0
        usedIndex = 0
        interruptStatus = 0
        notifyPending = false
        generation &+= 1
        staleInFlight = inFlight  // everything still with the chain is from before this reset
        updateLineAfterACK()
    }

    // MARK: Interrupts

    /// Tells the driver that buffers were used, unless it asked not to be told: VIRTQ_AVAIL_F_NO_INTERRUPT in the
    /// available ring's flags (virtio 1.x, 2.7.7; EVENT_IDX is not offered), which a driver sets while it polls.
    /// The full fence orders the used-index store before the flags load: a driver that clears the flag and then
    /// re-reads the used index, and this device, cannot both miss each other's store (a lost interrupt).
    private func notifyUsed() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if let flags = readGuest(availRing, as: UInt16.self), flags & VirtqAvailFlag.noInterrupt != 0 { return }
        raiseInterrupt()
    }

    /// Sets `cause` in InterruptStatus (1: used buffer, 2: configuration change) and raises the line.
    private func raiseInterrupt(_ cause: UInt32 = 1) {
        interruptStatus |= cause
        if let interruptEvent {
            interruptEvent.signal()
        } else if !irqHigh {
            irqHigh = true
            context.setIRQ(irq, high: true)
        }
    }

    private func updateLineAfterACK() {
        if interruptStatus == 0 && irqHigh {
            irqHigh = false
            context.setIRQ(irq, high: false)
        }
    }

    // MARK: The virtqueue (under `lock`)

    private func processQueue() {
        guard queueReady, status & VirtioStatus.driverOK != 0, status & VirtioStatus.deviceNeedsReset == 0 else {
            return
        }
        if suspended || staleInFlight > 0 {
            notifyPending = true  // served at resume, or when the last request from before the reset is back
            return
        }
        guard let availIndex = readGuest(availRing + 2, as: UInt16.self) else {
            needsReset("available ring index unreadable")
            return
        }
        // The guest can have published at most a queue's worth of heads beyond what was taken; anything else is a
        // driver bug, and walking it would take stale ring entries as new requests. (A torn 16-bit read could be
        // exactly 256 ahead, which a 256-entry queue allows: single loads of the index are what rule that out.)
        guard availIndex &- lastAvail <= queueNum else {
            needsReset("available index \(availIndex) is \(availIndex &- lastAvail) entries ahead of the last taken "
                       + "(\(lastAvail)); the queue holds \(queueNum)")
            return
        }
        var signal = false
        while lastAvail != availIndex {
            let position = UInt64(lastAvail % queueNum)
            guard let head = readGuest(availRing + 4 + 2 * position, as: UInt16.self) else {
                needsReset("available ring entry \(position) unreadable")
                return
            }
            lastAvail &+= 1
            if startRequest(head: head) { signal = true }
        }
        if signal { notifyUsed() }
    }

    /// The guest broke the queue beyond one request: log why, set DEVICE_NEEDS_RESET and tell the driver with a
    /// configuration-change interrupt (virtio 1.x, 2.1.2); nothing more is taken from the queue until a reset.
    private func needsReset(_ why: String) {
        reportMalformed("\(why); device needs reset")
        guard status & VirtioStatus.deviceNeedsReset == 0 else { return }
        status |= VirtioStatus.deviceNeedsReset
        raiseInterrupt(2)
    }

    /// Parses and starts the request whose chain begins at `head`; true when it completed at once (so the guest
    /// needs an interrupt).
    private func startRequest(head: UInt16) -> Bool {
        guard head < queueNum else {
            reportMalformed("descriptor head \(head) is outside the queue (size \(queueNum)); request dropped")
            return false
        }
        let slot = slots[Int(head)]
        guard !slot.busy else {
            reportMalformed("descriptor head \(head) reused while its request is in flight; dropped")
            return false
        }
        if let failure = walkChain(head: head) {
            // The status byte is the last byte of the last device-writable descriptor seen, if any.
            let status = chain.last(where: { $0.deviceWritable && $0.length > 0 })
            reportMalformed("request at head \(head): \(failure); failed with IOERR")
            finish(head: head, statusAddress: status.map { $0.address &+ UInt64($0.length) &- 1 },
                   status: VirtioBlkRequest.statusIOError, written: 0)
            return true
        }
        guard chain.count >= 2, let last = chain.last, last.deviceWritable, last.length >= 1 else {
            let status = chain.last.flatMap { $0.deviceWritable && $0.length > 0 ? $0 : nil }
            reportMalformed("request at head \(head): no header and status descriptors; failed with IOERR")
            finish(head: head, statusAddress: status.map { $0.address &+ UInt64($0.length) &- 1 },
                   status: VirtioBlkRequest.statusIOError, written: 0)
            return true
        }
        let statusAddress = last.address &+ UInt64(last.length) &- 1
        let header = chain[0]
        guard !header.deviceWritable, header.length >= VirtioBlkRequest.headerSize,
              let type = readGuest(header.address, as: UInt32.self),
              let sector = readGuest(header.address &+ 8, as: UInt64.self)
        else {
            reportMalformed("request at head \(head): unreadable header; failed with IOERR")
            return finish(head: head, statusAddress: statusAddress, status: VirtioBlkRequest.statusIOError, written: 0)
        }
        slot.segments.removeAll(keepingCapacity: true)
        slot.segments.append(contentsOf: chain[1..<(chain.count - 1)])
        slot.head = head
        slot.type = type
        slot.statusAddress = statusAddress

        switch type {
        case VirtioBlkRequest.typeIn, VirtioBlkRequest.typeOut:
            return startTransfer(slot, sector: sector)
        case VirtioBlkRequest.typeFlush:
            return submit(slot, op: VMH_BLOCK_OP_FLUSH, offset: 0, length: 0)
        case VirtioBlkRequest.typeGetID:
            return getID(slot)
        default:
            return finish(head: head, statusAddress: statusAddress, status: VirtioBlkRequest.statusUnsupported,
                          written: 0)
        }
    }

    /// Reads the chain from `head` into `chain`; a description of what is wrong, or nil.
    private func walkChain(head: UInt16) -> String? {
        chain.removeAll(keepingCapacity: true)
        var index = head
        while true {
            guard chain.count < Int(queueNum) else { return "descriptor chain loops (longer than the queue)" }
            let at = descriptorTable &+ 16 &* UInt64(index)
            guard let address = readGuest(at, as: UInt64.self), let length = readGuest(at &+ 8, as: UInt32.self),
                  let flags = readGuest(at &+ 12, as: UInt16.self), let next = readGuest(at &+ 14, as: UInt16.self)
            else { return "descriptor \(index) unreadable" }
            let descriptor = VirtqDescriptor(address: address, length: length, flags: flags, next: next)
            guard flags & VirtqDescriptorFlag.indirect == 0 else {
                return "indirect descriptor \(index) (VIRTIO_F_INDIRECT_DESC was not offered)"
            }
            chain.append(descriptor)
            guard flags & VirtqDescriptorFlag.next != 0 else { return nil }
            guard next < queueNum else { return "descriptor \(index) links to \(next), outside the queue" }
            index = next
        }
    }

    private func startTransfer(_ slot: RequestSlot, sector: UInt64) -> Bool {
        let isRead = slot.type == VirtioBlkRequest.typeIn
        if !isRead && readOnly {
            return finish(head: slot.head, statusAddress: slot.statusAddress,
                          status: VirtioBlkRequest.statusIOError, written: 0)
        }
        guard slot.segments.count <= segmentsMax else { return fail(slot, "\(slot.segments.count) data descriptors") }
        var total: UInt64 = 0
        for segment in slot.segments {
            guard segment.length <= Self.segmentSizeMax else { return fail(slot, "data descriptor of \(segment.length) bytes") }
            guard segment.deviceWritable == isRead else {
                return fail(slot, "data descriptor direction does not match a \(isRead ? "read" : "write")")
            }
            guard guestRangeReadable(segment.address, UInt64(segment.length)) else {
                return fail(slot, "data buffer 0x\(String(segment.address, radix: 16)) (\(segment.length) bytes) "
                            + "outside guest RAM")
            }
            total += UInt64(segment.length)
        }
        guard total <= Self.requestBytesMax else { return fail(slot, "\(total) data bytes (limit \(Self.requestBytesMax))") }
        guard total % VirtioBlkRequest.sectorSize == 0 else { return fail(slot, "\(total) bytes is not whole sectors") }
        let capacitySectors = capacityBytes / VirtioBlkRequest.sectorSize
        guard sector <= capacitySectors, total <= capacityBytes - sector * VirtioBlkRequest.sectorSize else {
            return finish(head: slot.head, statusAddress: slot.statusAddress,
                          status: VirtioBlkRequest.statusIOError, written: 0)
        }
        guard let buffer = slot.ensureBuffer(Int(total)) else { return fail(slot, "no memory for \(total) bytes") }
        if !isRead {
            var offset = 0
            for segment in slot.segments {
                let chunk = UnsafeMutableRawBufferPointer(start: buffer + offset, count: Int(segment.length))
                guard physRead(segment.address, into: chunk) else { return fail(slot, "data buffer unreadable") }
                offset += Int(segment.length)
            }
        }
        return submit(slot, op: isRead ? VMH_BLOCK_OP_READ : VMH_BLOCK_OP_WRITE,
                      offset: sector * VirtioBlkRequest.sectorSize, length: total)
    }

    /// Fails `slot`'s request with IOERR, logging `why`; true (interrupt needed).
    private func fail(_ slot: RequestSlot, _ why: String) -> Bool {
        reportMalformed("request at head \(slot.head): \(why); failed with IOERR")
        return finish(head: slot.head, statusAddress: slot.statusAddress, status: VirtioBlkRequest.statusIOError,
                      written: 0)
    }

    private func submit(_ slot: RequestSlot, op: UInt32, offset: UInt64, length: UInt64) -> Bool {
        var request = VMHBlockRequest()
        request.op = op
        request.offset = offset
        request.length = length
        request.buffer = length > 0 ? slot.buffer : nil
        request.user = Unmanaged.passUnretained(slot).toOpaque()
        slot.request.pointee = request
        slot.generation = generation
        slot.busy = true
        inFlight += 1
        submittingThread.store(UInt(pthread_self()), ordering: .releasing)
        let status = disk.submit(slot.request)
        submittingThread.store(0, ordering: .releasing)
        guard status == .ok else {
            // A chain that completed the request inside submit (not allowed, handled in `completed`) and then
            // also refused it: it was finished once already.
            guard slot.busy else { return false }
            slot.busy = false
            inFlight -= 1
            reportMalformed("request at head \(slot.head): the block chain refused it (\(status)); failed with IOERR")
            return finish(head: slot.head, statusAddress: slot.statusAddress,
                          status: VirtioBlkRequest.statusIOError, written: 0)
        }
        return false
    }

    private func getID(_ slot: RequestSlot) -> Bool {
        var id = serial
        id.append(contentsOf: repeatElement(0, count: VirtioBlkRequest.idSize - id.count))
        var written = 0
        for segment in slot.segments where written < id.count && segment.deviceWritable {
            let n = min(Int(segment.length), id.count - written)
            let piece = Array(id[written..<(written + n)])
            guard writeGuest(segment.address, piece) else {
                reportMalformed("request at head \(slot.head): GET_ID buffer outside guest RAM; failed with IOERR")
                return finish(head: slot.head, statusAddress: slot.statusAddress,
                              status: VirtioBlkRequest.statusIOError, written: 0)
            }
            written += n
        }
        return finish(head: slot.head, statusAddress: slot.statusAddress, status: VirtioBlkRequest.statusOK,
                      written: UInt32(written))
    }

    /// Writes the status byte (when known) and puts `head` on the used ring with `written` + 1 bytes. Returns true
    /// (the guest needs an interrupt).
    @discardableResult
    private func finish(head: UInt16, statusAddress: UInt64?, status blkStatus: UInt8, written: UInt32) -> Bool {
        var length: UInt32 = 0
        if let statusAddress {
            let wrote = withUnsafeBytes(of: blkStatus) { physWrite(statusAddress, from: $0) }
            if wrote {
                length = written &+ 1
            } else {
                reportMalformed("status byte at 0x\(String(statusAddress, radix: 16)) outside guest RAM")
            }
        }
        let element = usedRing &+ 4 &+ 8 &* UInt64(usedIndex % queueNum)
        var entry = (UInt32(head).littleEndian, length.littleEndian)
        let wroteEntry = withUnsafeBytes(of: &entry) { physWrite(element, from: $0) }
        usedIndex &+= 1
        var index = usedIndex.littleEndian
        let wroteIndex = withUnsafeBytes(of: &index) { physWrite(usedRing &+ 2, from: $0) }
        if !wroteEntry || !wroteIndex {
            reportMalformed("used ring at 0x\(String(usedRing, radix: 16)) not writable")
            status |= VirtioStatus.deviceNeedsReset
        }
        return true
    }

    // MARK: Completions (the medium's I/O thread)

    private func completed(_ request: UnsafeMutablePointer<VMHBlockRequest>, _ result: PluginStatus) {
        guard let user = request.pointee.user else { return }
        let slot = Unmanaged<RequestSlot>.fromOpaque(user).takeUnretainedValue()
        if submittingThread.load(ordering: .acquiring) == UInt(pthread_self()) {
            // The chain completed inside `submit` (the ABI forbids it): this thread already holds `lock`, which is
            // not re-entrant, so finish here instead of hanging the vCPU.
            reportMalformed("the block chain completed a request inside submit (not allowed); handled inline")
            completeHoldingLock(slot, result)
            return
        }
        lock.withLock { completeHoldingLock(slot, result) }
    }

    /// Finishes `slot`'s request and interrupts the guest; the caller holds `lock`.
    private func completeHoldingLock(_ slot: RequestSlot, _ result: PluginStatus) {
        do {
            slot.busy = false
            inFlight -= 1
            guard slot.generation == generation else {
                // The device was reset since: nobody waits for it. The last one back lets the queue run again.
                staleInFlight -= 1
                if staleInFlight == 0 && notifyPending {
                    notifyPending = false
                    processQueue()
                }
                return
            }
            var blkStatus = result == .ok ? VirtioBlkRequest.statusOK : VirtioBlkRequest.statusIOError
            var written: UInt32 = 0
            if result == .ok && slot.type == VirtioBlkRequest.typeIn, let buffer = slot.buffer {
                var offset = 0
                for segment in slot.segments {
                    let chunk = UnsafeRawBufferPointer(start: buffer + offset, count: Int(segment.length))
                    if !physWrite(segment.address, from: chunk) {
                        blkStatus = VirtioBlkRequest.statusIOError
                        break
                    }
                    offset += Int(segment.length)
                }
                if blkStatus == VirtioBlkRequest.statusOK { written = UInt32(offset) }
            }
            finish(head: slot.head, statusAddress: slot.statusAddress, status: blkStatus, written: written)
            notifyUsed()
        }
    }

    // MARK: Helpers

    private func physRead(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        do {
            try context.physRead(address, into: buffer)
            return true
        } catch {
            return false
        }
    }

    private func physWrite(_ address: UInt64, from buffer: UnsafeRawBufferPointer) -> Bool {
        do {
            try context.physWrite(address, from: buffer)
            return true
        } catch {
            return false
        }
    }

    private func writeGuest(_ address: UInt64, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { physWrite(address, from: $0) }
    }

    private func readGuest<T: FixedWidthInteger>(_ address: UInt64, as type: T.Type) -> T? {
        var value: T = 0
        let ok = withUnsafeMutableBytes(of: &value) { physRead(address, into: $0) }
        return ok ? T(littleEndian: value) : nil
    }

    /// True when the first and last byte of `[address, address + length)` are guest RAM (RAM is contiguous).
    private func guestRangeReadable(_ address: UInt64, _ length: UInt64) -> Bool {
        guard length > 0 else { return true }
        guard address &+ length > address else { return false }
        return readGuest(address, as: UInt8.self) != nil && readGuest(address + length - 1, as: UInt8.self) != nil
    }

    /// Logs a guest error; after 20 lines only counts them.
    private func reportMalformed(_ message: @autoclosure () -> String) {
        malformed += 1
        if malformed <= 20 {
            context.log(.warning, message())
        } else if malformed == 21 {
            context.log(.warning, "further guest errors are counted, not logged")
        }
    }
}

/// Module entry point.
@_cdecl("vmhost_plugin_register")
public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
    PluginExports.register(registrar, hostAbiVersion, devices: [VirtioBlk.self])
}
