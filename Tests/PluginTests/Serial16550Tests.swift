import CVMHostABI
import Foundation
import PDM
import PluginTestKit
import Testing

/// Register-level tests of libSerial16550.so, loaded as the host does, with the test kit's RecordingVMM and the
/// in-test TestChar driver on LUN 0.
extension TestCharSuites {
    @Suite(.serialized)
    struct Serial16550Tests {
        static let base: UInt16 = 0x3f8
        static let thr = base, rbr = base, dll = base
        static let ier = base + 1, dlm = base + 1
        static let iir = base + 2, fcr = base + 2
        static let lcr = base + 3, mcr = base + 4, lsr = base + 5, msr = base + 6, scr = base + 7

        /// A constructed, powered-on UART (irq 4 unless given) with TestChar on LUN 0 (or no driver).
        func uart(settings: Settings = [:], driver: Bool = true) throws -> PluginTestHarness {
            TestCharDriver.reset()
            let h = PluginTestHarness()
            try h.loadProduct("Serial16550")
            try TestCharDriver.register(in: h.registry)
            var device = DeviceConfig(name: "Serial16550", settings: settings)
            if driver { device = device.lun(0, DriverConfig(name: TestCharDriver.name)) }
            h.addDevice(device)
            try h.construct()
            try h.powerOn()
            return h
        }

        func read(_ h: PluginTestHarness, _ port: UInt16) -> UInt8 {
            UInt8(truncatingIfNeeded: h.portIn(port).value)
        }

        func write(_ h: PluginTestHarness, _ port: UInt16, _ value: UInt8) {
            h.portOut(port, value: UInt32(value))
        }

        // MARK: The DEVICE-SPECS contract

        @Test func thrWritesReachTheDriverAndLSRIsIdle() throws {
            let h = try uart()
            #expect(read(h, Self.lsr) == 0x60)
            for byte in Array("hello\n".utf8) { write(h, Self.thr, byte) }
            #expect(TestCharDriver.text == "hello\n")
            #expect(read(h, Self.lsr) == 0x60)
            #expect(h.vmm.portRanges.count == 1)
            #expect(h.vmm.portRanges.first?.port == 0x3f8 && h.vmm.portRanges.first?.count == 8)
        }

        @Test func controlRegistersReadBack() throws {
            let h = try uart()
            write(h, Self.lcr, 0x1b)
            write(h, Self.mcr, 0xff)
            write(h, Self.scr, 0xa5)
            write(h, Self.ier, 0xff)
            #expect(read(h, Self.lcr) == 0x1b)
            #expect(read(h, Self.mcr) == 0x1f)  // bits 7..5 do not exist
            #expect(read(h, Self.scr) == 0xa5)
            #expect(read(h, Self.ier) == 0x0f)  // bits 7..4 do not exist
        }

        @Test func configurableBaseAndIRQ() throws {
            let h = try uart(settings: ["iobase": .integer(0x2f8), "irq": .integer(3)])
            #expect(h.vmm.portRanges.first?.port == 0x2f8)
            h.portOut(0x2f8 + 1, value: 0x02)  // ETBEI with THR empty → interrupt
            let last = try #require(h.vmm.irqHistory.last)
            #expect(last.device == "Serial16550/0" && last.irq == 3 && last.level == 1)
        }

        @Test func badSettingsAreRefusedByName() throws {
            TestCharDriver.reset()
            let h = PluginTestHarness()
            try h.loadProduct("Serial16550")
            h.addDevice(DeviceConfig(name: "Serial16550", settings: ["irq": .integer(99)]))
            #expect(throws: (any Error).self) { try h.construct() }
            #expect(h.messages(of: "Serial16550/0").contains { $0.contains("irq") })
        }

        @Test func registration() throws {
            let h = PluginTestHarness()
            try h.loadProduct("Serial16550")
            let type = try #require(h.registry.device(named: "Serial16550"))
            #expect(type.flags == UInt32(VMH_DEVREG_F_THREAD_SAFE))  // input arrives on driver threads
            #expect(type.order == VMH_DEVORDER_SERIAL)
            #expect(type.maxInstances >= 1)
        }

        @Test func otherBadSettingsFailConstruct() throws {
            for settings: Settings in [["iobase": .string("com1")], ["speed": .integer(9600)],
                                       ["iobase": .integer(0xfffc)]] {
                let h = PluginTestHarness()
                try h.loadProduct("Serial16550")
                h.addDevice(DeviceConfig(name: "Serial16550", settings: settings))
                #expect(throws: PDMError.self) { try h.construct() }
            }
        }

        @Test func noDriverDropsOutputAndLogsOnce() throws {
            let h = try uart(driver: false)
            for byte in Array("abc".utf8) { write(h, Self.thr, byte) }
            #expect(read(h, Self.lsr) == 0x60)
            #expect(h.messages(of: "Serial16550/0").filter { $0.contains("dropped") }.count == 1)
        }

        // MARK: DLAB

        @Test func divisorLatchIsSeparateFromTHRAndIER() throws {
            let h = try uart()
            write(h, Self.ier, 0x05)
            write(h, Self.lcr, 0x83)  // DLAB + 8N1
            write(h, Self.dll, 0x01)
            write(h, Self.dlm, 0x02)
            #expect(read(h, Self.dll) == 0x01)
            #expect(read(h, Self.dlm) == 0x02)
            #expect(TestCharDriver.bytes.isEmpty)  // a DLL write is not a THR write
            write(h, Self.lcr, 0x03)
            #expect(read(h, Self.ier) == 0x05)
            write(h, Self.thr, 0x41)
            #expect(TestCharDriver.text == "A")
            write(h, Self.lcr, 0x83)
            #expect(read(h, Self.dll) == 0x01)  // the divisor survived
        }

        // MARK: Loopback and modem status

        @Test func loopbackSendsTHRToRBRNotToTheDriver() throws {
            let h = try uart()
            write(h, Self.mcr, 0x10)
            write(h, Self.thr, 0x5a)
            #expect(TestCharDriver.bytes.isEmpty)
            #expect(read(h, Self.lsr) & 0x01 == 0x01)
            #expect(read(h, Self.rbr) == 0x5a)
            #expect(read(h, Self.lsr) == 0x60)
            // External input is disconnected in loopback.
            #expect(TestCharDriver.inject([0x31]) == 1)
            #expect(read(h, Self.lsr) & 0x01 == 0)
        }

        @Test func loopbackModemLinesFollowMCR() throws {
            let h = try uart()
            _ = read(h, Self.msr)
            #expect(read(h, Self.msr) == 0xb0)  // not in loopback: CTS, DSR, DCD held by the host side
            write(h, Self.mcr, 0x10)  // loopback, all outputs low: CTS, DSR, DCD fall
            #expect(read(h, Self.msr) == 0x0b)
            write(h, Self.mcr, 0x1f)  // DTR, RTS, OUT1, OUT2 → DSR, CTS, RI, DCD
            #expect(read(h, Self.msr) == 0xfb)
            #expect(read(h, Self.msr) == 0xf0)  // deltas cleared by the read
            write(h, Self.mcr, 0x1b)  // OUT1 falls → RI falls → TERI
            #expect(read(h, Self.msr) == 0xb4)
        }

        // MARK: FIFO

        @Test func fifoHoldsSixteenBytesAndOverrunsAfter() throws {
            let h = try uart()
            write(h, Self.fcr, 0x07)  // enable + clear both
            #expect(read(h, Self.iir) & 0xc0 == 0xc0)
            write(h, Self.mcr, 0x10)
            for i in 0..<17 { write(h, Self.thr, UInt8(i)) }
            let lsr = read(h, Self.lsr)
            #expect(lsr & 0x03 == 0x03)  // data ready + overrun
            #expect(read(h, Self.lsr) & 0x02 == 0)  // overrun is cleared by the read
            var received: [UInt8] = []
            while read(h, Self.lsr) & 0x01 != 0 { received.append(read(h, Self.rbr)) }
            #expect(received == Array(0..<16))
        }

        @Test func withoutFIFOOnlyOneByteIsHeld() throws {
            let h = try uart()
            #expect(read(h, Self.iir) & 0xc0 == 0)
            #expect(TestCharDriver.inject([1, 2, 3]) == 1)
            #expect(read(h, Self.rbr) == 1)
            write(h, Self.fcr, 0x01)
            #expect(TestCharDriver.inject(Array(0..<20)) == 16)
            write(h, Self.fcr, 0x03)  // clear receive
            #expect(read(h, Self.lsr) & 0x01 == 0)
        }

        @Test func triggerLevelSelectsReceivedDataOrTimeout() throws {
            let h = try uart()
            write(h, Self.fcr, 0x41)  // FIFO, trigger 4
            write(h, Self.ier, 0x01)
            #expect(TestCharDriver.inject([1, 2, 3]) == 3)
            #expect(read(h, Self.iir) == 0xcc)  // below the trigger: character timeout
            #expect(TestCharDriver.inject([4]) == 1)
            #expect(read(h, Self.iir) == 0xc4)  // at the trigger: received data available
            _ = read(h, Self.rbr)
            #expect(read(h, Self.iir) == 0xcc)
            for _ in 0..<3 { _ = read(h, Self.rbr) }
            #expect(read(h, Self.iir) == 0xc1)
        }

        // MARK: Interrupts

        @Test func interruptPrioritiesAndTheIRQLine() throws {
            let h = try uart()
            write(h, Self.mcr, 0x10)  // loopback
            _ = read(h, Self.msr)
            write(h, Self.thr, 0x11)  // one byte held (no FIFO) …
            write(h, Self.thr, 0x22)  // … the next overruns
            write(h, Self.mcr, 0x13)  // DTR/RTS → DSR/CTS deltas
            write(h, Self.ier, 0x0f)
            #expect(h.vmm.irqHistory.last?.level == 1)
            #expect(read(h, Self.iir) == 0x06)  // receiver line status first
            _ = read(h, Self.lsr)
            #expect(read(h, Self.iir) == 0x04)  // then received data
            #expect(read(h, Self.rbr) == 0x11)
            #expect(read(h, Self.iir) == 0x02)  // then THR empty, which this IIR read clears
            #expect(read(h, Self.iir) == 0x00)  // then modem status
            #expect(h.vmm.irqHistory.last?.level == 1)
            _ = read(h, Self.msr)
            #expect(read(h, Self.iir) == 0x01)
            #expect(h.vmm.irqHistory.last.map { $0.irq == 4 && $0.level == 0 } == true)
            // The line only moves on changes: high once, low once.
            #expect(h.vmm.irqHistory.map(\.level) == [1, 0])
        }

        @Test func transmitterEmptyInterruptOnEnableAndAfterEachWrite() throws {
            let h = try uart()
            write(h, Self.ier, 0x02)
            #expect(read(h, Self.iir) == 0x02)
            #expect(read(h, Self.iir) == 0x01)  // cleared by reading it
            write(h, Self.thr, 0x41)  // sent at once → THR empty again
            #expect(read(h, Self.iir) == 0x02)
            write(h, Self.ier, 0x00)
            #expect(h.vmm.irqHistory.last?.level == 0)
        }

        @Test func receivedInputRaisesTheLine() throws {
            let h = try uart()
            write(h, Self.ier, 0x01)
            #expect(h.vmm.irqHistory.isEmpty)
            #expect(TestCharDriver.inject([0x78]) == 1)
            #expect(h.vmm.irqHistory.last?.level == 1)
            #expect(read(h, Self.rbr) == 0x78)
            #expect(h.vmm.irqHistory.last?.level == 0)
        }

        // MARK: Flow control, reset, fuzzing

        @Test func refusedOutputStaysInTheFIFOUntilTheDriverTakesIt() throws {
            let h = try uart()
            write(h, Self.fcr, 0x01)
            TestCharDriver.accept(0)
            for byte in Array("wait".utf8) { write(h, Self.thr, byte) }
            #expect(read(h, Self.lsr) & 0x60 == 0)  // THR not empty: the guest must wait
            TestCharDriver.accept(nil)
            #expect(read(h, Self.lsr) == 0x60)  // the LSR poll retried the output
            #expect(TestCharDriver.text == "wait")
        }

        @Test func inputFromADriverThreadWhileTheGuestReadsArrivesInOrder() throws {
            let h = try uart()
            write(h, Self.fcr, 0x01)
            let input = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
            let feeder = Thread {
                var sent = 0
                while sent < input.count {
                    let n = Int(TestCharDriver.inject(Array(input[sent..<min(sent + 64, input.count)])) ?? 0)
                    sent += n
                    if n == 0 { usleep(50) }
                }
            }
            feeder.start()
            var received: [UInt8] = []
            // Gives up after 10 s without a byte (wall time: a loaded machine may not run the feeder for a while).
            let idleLimit = ContinuousClock.Duration.seconds(10)
            var lastProgress = ContinuousClock.now
            var polls = 0
            while received.count < input.count {
                if read(h, Self.lsr) & 0x01 != 0 {
                    received.append(read(h, Self.rbr))
                    polls = 0
                } else {
                    polls += 1
                    if polls % 4096 == 0 {
                        if polls == 4096 { lastProgress = .now }
                        if ContinuousClock.now - lastProgress > idleLimit { break }
                    }
                }
            }
            #expect(received == input)
        }

        @Test func resetRestoresPowerOnValues() throws {
            let h = try uart()
            write(h, Self.lcr, 0x03)
            write(h, Self.ier, 0x0f)
            write(h, Self.fcr, 0x01)
            write(h, Self.mcr, 0x1f)
            try h.reset()
            #expect(read(h, Self.lcr) == 0)
            #expect(read(h, Self.ier) == 0)
            #expect(read(h, Self.mcr) == 0)
            #expect(read(h, Self.iir) == 0x01)
            #expect(read(h, Self.lsr) == 0x60)
            #expect(h.vmm.irqHistory.last?.level == 0)
        }

        @Test func fuzzedRegisterAccessKeepsTheDeviceUsable() throws {
            let h = try uart()
            let stats = h.fuzzIO(iterations: 50_000, seed: 0x16550)
            #expect(stats.ranges == 1)
            #expect(stats.failedAccesses == 0)
            // Back to a known configuration: the UART still transmits.
            write(h, Self.lcr, 0x03)
            write(h, Self.mcr, 0x00)
            write(h, Self.fcr, 0x07)
            TestCharDriver.reset()
            TestCharDriver.accept(nil)
            _ = read(h, Self.lsr)
            write(h, Self.thr, 0x21)
            #expect(TestCharDriver.bytes.last == 0x21)
            #expect(read(h, Self.lsr) & 0x60 == 0x60)
        }
    }
}
