// Register offsets and bit meanings of the 16550A UART, as the guest sees them (offsets from `iobase`).

/// Register offsets of a 16550 from its base port.
enum UARTRegister {
    /// RBR (read) / THR (write); DLL when LCR.DLAB is set.
    static let data: UInt16 = 0
    /// IER; DLM when LCR.DLAB is set.
    static let interruptEnable: UInt16 = 1
    /// IIR (read) / FCR (write).
    static let interruptIdentification: UInt16 = 2
    /// LCR.
    static let lineControl: UInt16 = 3
    /// MCR.
    static let modemControl: UInt16 = 4
    /// LSR.
    static let lineStatus: UInt16 = 5
    /// MSR.
    static let modemStatus: UInt16 = 6
    /// SCR.
    static let scratch: UInt16 = 7
    /// Ports a 16550 decodes.
    static let count: UInt16 = 8
}

/// IER bits.
enum UARTInterruptEnable {
    /// ERBFI: received data available (and character timeout).
    static let receivedData: UInt8 = 0x01
    /// ETBEI: transmitter holding register empty.
    static let transmitterEmpty: UInt8 = 0x02
    /// ELSI: receiver line status (overrun and other errors).
    static let lineStatus: UInt8 = 0x04
    /// EDSSI: modem status change.
    static let modemStatus: UInt8 = 0x08
    /// The bits a 16550 stores.
    static let writable: UInt8 = 0x0f
}

/// IIR values (bit 0 clear = an interrupt is pending; bits 3..1 say which; bits 7..6 set when the FIFOs are on).
enum UARTInterruptID {
    static let none: UInt8 = 0x01
    static let receiverLineStatus: UInt8 = 0x06
    static let receivedData: UInt8 = 0x04
    static let characterTimeout: UInt8 = 0x0c
    static let transmitterEmpty: UInt8 = 0x02
    static let modemStatus: UInt8 = 0x00
    static let fifosEnabled: UInt8 = 0xc0
}

/// FCR bits.
enum UARTFIFOControl {
    static let enable: UInt8 = 0x01
    static let clearReceive: UInt8 = 0x02
    static let clearTransmit: UInt8 = 0x04
    /// Bits 7..6: receive trigger level 1, 4, 8 or 14 bytes.
    static let triggerShift: UInt8 = 6
}

/// LCR bits.
enum UARTLineControl {
    /// DLAB: ports 0 and 1 address the divisor latch.
    static let divisorLatchAccess: UInt8 = 0x80
}

/// MCR bits.
enum UARTModemControl {
    static let dataTerminalReady: UInt8 = 0x01
    static let requestToSend: UInt8 = 0x02
    static let out1: UInt8 = 0x04
    static let out2: UInt8 = 0x08
    static let loopback: UInt8 = 0x10
    /// The bits a 16550 stores.
    static let writable: UInt8 = 0x1f
}

/// LSR bits.
enum UARTLineStatus {
    static let dataReady: UInt8 = 0x01
    static let overrunError: UInt8 = 0x02
    static let parityError: UInt8 = 0x04
    static let framingError: UInt8 = 0x08
    static let breakInterrupt: UInt8 = 0x10
    static let transmitterHoldingEmpty: UInt8 = 0x20
    static let transmitterEmpty: UInt8 = 0x40
    /// The error bits a LSR read clears.
    static let errors: UInt8 = 0x1e
}

/// MSR bits: deltas in 3..0, line states in 7..4.
enum UARTModemStatus {
    static let deltaClearToSend: UInt8 = 0x01
    static let deltaDataSetReady: UInt8 = 0x02
    static let trailingEdgeRingIndicator: UInt8 = 0x04
    static let deltaDataCarrierDetect: UInt8 = 0x08
    static let clearToSend: UInt8 = 0x10
    static let dataSetReady: UInt8 = 0x20
    static let ringIndicator: UInt8 = 0x40
    static let dataCarrierDetect: UInt8 = 0x80
    static let deltas: UInt8 = 0x0f
}
