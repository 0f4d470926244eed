/// The register model of a 16550A UART, free of host services: the guest's register reads and writes, bytes
/// received from the host, and the transmit FIFO that the device drains into its char driver.
///
/// Behaviour (what the tests check):
/// - Transmit: a THR write queues the byte in the transmit FIFO (depth 16 with FCR.0, else 1); the device drains
///   it to the driver at once. While bytes wait (the driver is full: flow control), LSR.THRE/TEMT read 0. A write
///   into a full FIFO is dropped. In loopback (MCR.4) the byte goes to the receive FIFO instead (overrun when full).
/// - Receive: host bytes fill the receive FIFO up to its depth (the rest is refused, so the driver retries later);
///   in loopback the external input is disconnected (accepted and discarded). RBR reads pop; LSR.DR = data present.
/// - Interrupts, highest priority first (IIR): receiver line status (overrun, IER.2), received data (IER.0:
///   FIFO at or above the trigger level, or — FIFO mode, below the trigger — character timeout, reported as soon as
///   a host burst ends), THR empty (IER.1: raised when the transmit FIFO empties or IER.1 is set while it is
///   empty; cleared by an IIR read that reports it or by a THR write), modem status (IER.3, any MSR delta).
///   The IRQ line follows "an interrupt is pending" (MCR.OUT2 does not gate it, as on QEMU's 16550).
/// - Modem status: in loopback CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2; otherwise the host side holds CTS, DSR and DCD
///   asserted. Changes set the delta bits (TERI on RI falling); an MSR read clears them.
struct UARTModel {
    private(set) var receiveFIFO = ByteFIFO()
    private(set) var transmitFIFO = ByteFIFO()
    private(set) var ier: UInt8 = 0
    private(set) var lcr: UInt8 = 0
    private(set) var mcr: UInt8 = 0
    private(set) var scr: UInt8 = 0
    private(set) var dll: UInt8 = 0x0c  // 9600 baud, as after a PC BIOS
    private(set) var dlm: UInt8 = 0
    private(set) var fifoEnabled = false
    private(set) var triggerLevel = 1
    /// LSR error bits (overrun) not yet read.
    private(set) var lineErrors: UInt8 = 0
    private(set) var msr: UInt8 = 0
    private(set) var transmitterEmptyPending = false
    /// Bytes the transmit FIFO dropped because it was full.
    private(set) var droppedTransmit = 0

    init() {
        reset()
    }

    /// Master reset: every register to its power-on value, FIFOs empty.
    mutating func reset() {
        receiveFIFO = ByteFIFO()
        transmitFIFO = ByteFIFO()
        ier = 0
        lcr = 0
        mcr = 0
        scr = 0
        dll = 0x0c
        dlm = 0
        fifoEnabled = false
        triggerLevel = 1
        lineErrors = 0
        msr = modemInputs()
        transmitterEmptyPending = false
    }

    var divisorLatchAccess: Bool { lcr & UARTLineControl.divisorLatchAccess != 0 }
    var loopback: Bool { mcr & UARTModemControl.loopback != 0 }

    // MARK: Interrupts

    /// The IIR identification of the highest-priority pending interrupt (without the FIFO bits).
    var pendingInterrupt: UInt8 {
        if ier & UARTInterruptEnable.lineStatus != 0, lineErrors != 0 {
            return UARTInterruptID.receiverLineStatus
        }
        if ier & UARTInterruptEnable.receivedData != 0, !receiveFIFO.isEmpty {
            if fifoEnabled && receiveFIFO.count < triggerLevel { return UARTInterruptID.characterTimeout }
            return UARTInterruptID.receivedData
        }
        if ier & UARTInterruptEnable.transmitterEmpty != 0, transmitterEmptyPending {
            return UARTInterruptID.transmitterEmpty
        }
        if ier & UARTInterruptEnable.modemStatus != 0, msr & UARTModemStatus.deltas != 0 {
            return UARTInterruptID.modemStatus
        }
        return UARTInterruptID.none
    }

    /// Whether the IRQ line is asserted.
    var interruptAsserted: Bool { pendingInterrupt != UARTInterruptID.none }

    // MARK: Guest access

    /// A guest read of the register at `offset` (0...7); reads have the documented side effects.
    mutating func read(_ offset: UInt16) -> UInt8 {
        switch offset {
        case UARTRegister.data:
            if divisorLatchAccess { return dll }
            return receiveFIFO.pop() ?? 0
        case UARTRegister.interruptEnable:
            return divisorLatchAccess ? dlm : ier
        case UARTRegister.interruptIdentification:
            let id = pendingInterrupt
            if id == UARTInterruptID.transmitterEmpty { transmitterEmptyPending = false }
            return id | (fifoEnabled ? UARTInterruptID.fifosEnabled : 0)
        case UARTRegister.lineControl:
            return lcr
        case UARTRegister.modemControl:
            return mcr
        case UARTRegister.lineStatus:
            var lsr = lineErrors
            if !receiveFIFO.isEmpty { lsr |= UARTLineStatus.dataReady }
            if transmitFIFO.isEmpty {
                lsr |= UARTLineStatus.transmitterHoldingEmpty | UARTLineStatus.transmitterEmpty
            }
            lineErrors = 0
            return lsr
        case UARTRegister.modemStatus:
            let value = msr
            msr &= ~UARTModemStatus.deltas
            return value
        case UARTRegister.scratch:
            return scr
        default:
            return 0xff
        }
    }

    /// A guest write of `value` to the register at `offset` (0...7).
    mutating func write(_ offset: UInt16, _ value: UInt8) {
        switch offset {
        case UARTRegister.data:
            if divisorLatchAccess { dll = value } else { transmit(value) }
        case UARTRegister.interruptEnable:
            if divisorLatchAccess {
                dlm = value
            } else {
                let enabling = value & ~ier
                ier = value & UARTInterruptEnable.writable
                if enabling & UARTInterruptEnable.transmitterEmpty != 0, transmitFIFO.isEmpty {
                    transmitterEmptyPending = true
                }
            }
        case UARTRegister.interruptIdentification:
            writeFIFOControl(value)
        case UARTRegister.lineControl:
            lcr = value
        case UARTRegister.modemControl:
            mcr = value & UARTModemControl.writable
            updateModemStatus()
        case UARTRegister.scratch:
            scr = value
        default:
            break  // LSR and MSR are read-only
        }
    }

    private mutating func transmit(_ byte: UInt8) {
        transmitterEmptyPending = false
        if loopback {
            if !receiveFIFO.push(byte) { lineErrors |= UARTLineStatus.overrunError }
            transmitterEmptyPending = true
            return
        }
        if !transmitFIFO.push(byte) { droppedTransmit += 1 }
    }

    private mutating func writeFIFOControl(_ value: UInt8) {
        let enable = value & UARTFIFOControl.enable != 0
        if enable != fifoEnabled {
            receiveFIFO.clear()
            transmitFIFO.clear()
            fifoEnabled = enable
            receiveFIFO.limit = enable ? ByteFIFO.capacity : 1
            transmitFIFO.limit = enable ? ByteFIFO.capacity : 1
        }
        if value & UARTFIFOControl.clearReceive != 0 { receiveFIFO.clear() }
        if value & UARTFIFOControl.clearTransmit != 0, !transmitFIFO.isEmpty {
            transmitFIFO.clear()
            transmitterEmptyPending = true
        }
        switch value >> UARTFIFOControl.triggerShift {
        case 0: triggerLevel = 1
        case 1: triggerLevel = 4
        case 2: triggerLevel = 8
        default: triggerLevel = 14
        }
    }

    // MARK: Host side

    /// Drops the `n` oldest transmit bytes after the driver accepted them; raises THR-empty when it empties.
    mutating func transmitted(_ n: Int) {
        guard n > 0, !transmitFIFO.isEmpty else { return }
        transmitFIFO.drop(n)
        if transmitFIFO.isEmpty { transmitterEmptyPending = true }
    }

    /// Host input: takes as many bytes as the receive FIFO has room for; returns how many were taken (all of them
    /// in loopback, where the input line is disconnected and the bytes are discarded).
    mutating func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        if loopback { return bytes.count }
        var taken = 0
        while taken < bytes.count, receiveFIFO.push(bytes[taken]) { taken += 1 }
        return taken
    }

    private func modemInputs() -> UInt8 {
        guard loopback else {
            return UARTModemStatus.clearToSend | UARTModemStatus.dataSetReady | UARTModemStatus.dataCarrierDetect
        }
        var lines: UInt8 = 0
        if mcr & UARTModemControl.requestToSend != 0 { lines |= UARTModemStatus.clearToSend }
        if mcr & UARTModemControl.dataTerminalReady != 0 { lines |= UARTModemStatus.dataSetReady }
        if mcr & UARTModemControl.out1 != 0 { lines |= UARTModemStatus.ringIndicator }
        if mcr & UARTModemControl.out2 != 0 { lines |= UARTModemStatus.dataCarrierDetect }
        return lines
    }

    private mutating func updateModemStatus() {
        let old = msr & ~UARTModemStatus.deltas
        let new = modemInputs()
        let changed = old ^ new
        var deltas = msr & UARTModemStatus.deltas
        if changed & UARTModemStatus.clearToSend != 0 { deltas |= UARTModemStatus.deltaClearToSend }
        if changed & UARTModemStatus.dataSetReady != 0 { deltas |= UARTModemStatus.deltaDataSetReady }
        if changed & UARTModemStatus.dataCarrierDetect != 0 { deltas |= UARTModemStatus.deltaDataCarrierDetect }
        if old & UARTModemStatus.ringIndicator != 0, new & UARTModemStatus.ringIndicator == 0 {
            deltas |= UARTModemStatus.trailingEdgeRingIndicator
        }
        msr = new | deltas
    }
}
