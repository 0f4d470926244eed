import CVMHostABI
import Dispatch
import Glibc
import KVM
import PDM
import Testing
import VMM

/// Device timers through the real PDM helpers, `MachineServices` and the dispatcher (synthetic port exits).
@Suite(.serialized) struct DeviceTimerTests {
    static func machineWithProbe() throws -> (Machine, PDMCore) {
        let machine = try Machine(configuration: MachineConfiguration(memorySize: 16 << 20))
        let registry = PluginRegistry()
        try TimerProbeDevice.register(in: registry)
        let pdm = PDMCore()
        try pdm.construct(config: VMConfiguration(devices: [DeviceConfig(name: TimerProbeDevice.name)]),
                          registry: registry, services: MachineServices(machine: machine))
        machine.freezeIORanges()
        return (machine, pdm)
    }

    /// The probe device's instance pointer and its helpers 1.2 (device clock, arm at a deadline).
    static func clockHelpers(_ pdm: PDMCore) throws -> (ins: UnsafeMutablePointer<VMHDevIns>,
        readClock: @convention(c) (UnsafeMutablePointer<VMHDevIns>?, UnsafeMutablePointer<UInt64>?) -> Int32,
        armAt: @convention(c) (UnsafeMutablePointer<VMHDevIns>?, UInt64, UInt64) -> Int32) {
        let ins = try #require(pdm.deviceInstances.first).devIns
        let hlp = try #require(ins.pointee.hlp)
        return (ins, try #require(hlp.pointee.deviceClockNanoseconds), try #require(hlp.pointee.timerArmAt))
    }

    static func write(_ machine: Machine, port: UInt16, _ value: UInt32) {
        var v = value
        withUnsafeMutableBytes(of: &v) { raw in
            guard let base = raw.baseAddress else { return }
            machine.dispatcher.dispatch(KVMIOExit(direction: .out, size: 4, port: port, count: 1, data: base))
        }
    }

    @Test func armedTimerFiresOnceUnderTheInstanceLock() throws {
        TimerProbeDevice.reset()
        let (machine, pdm) = try Self.machineWithProbe()
        defer { pdm.destroy() }
        let (a, _) = TimerProbeDevice.handles.withLock { $0 }
        Self.write(machine, port: 0x600, 20_000)  // A in 20 ms
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        #expect(TimerProbeDevice.firings.withLock { $0 } == [a])
        #expect(machine.timers.firedCount == 1)
        #expect(TimerProbeDevice.overlaps.load(ordering: .relaxed) == 0)
        #expect(machine.dispatcher.handlerFailures == 0)
    }

    @Test func timerCallbackWaitsForTheInstanceLock() throws {
        TimerProbeDevice.reset()
        let (machine, pdm) = try Self.machineWithProbe()
        defer { pdm.destroy() }
        Self.write(machine, port: 0x604, 0)  // arms A for 1 µs, then holds the lock for 100 ms
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        #expect(TimerProbeDevice.overlaps.load(ordering: .relaxed) == 0)
    }

    @Test func stoppedTimerDoesNotFireAndDeadlinesKeepOrder() throws {
        TimerProbeDevice.reset()
        let (machine, pdm) = try Self.machineWithProbe()
        defer { pdm.destroy() }
        let (a, b) = TimerProbeDevice.handles.withLock { $0 }
        Self.write(machine, port: 0x600, 1_000_000)  // A in 1 s …
        Self.write(machine, port: 0x602, 0)          // … stopped at once
        Self.write(machine, port: 0x601, 1_200_000)  // B in 1.2 s
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        // Had the stop not worked, A (earlier deadline) would have fired first.
        #expect(TimerProbeDevice.firings.withLock { $0 } == [b])
        #expect(a != b)
        // Re-arming replaces the deadline: B armed far out, then re-armed to 10 ms, fires once.
        Self.write(machine, port: 0x601, 60_000_000)
        Self.write(machine, port: 0x601, 10_000)
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        #expect(TimerProbeDevice.firings.withLock { $0 } == [b, b])
    }

    @Test func noTimerFiresWhileTheDeviceClockStandsStill() throws {
        TimerProbeDevice.reset()
        let (machine, pdm) = try Self.machineWithProbe()
        defer { pdm.destroy() }
        let (a, _) = TimerProbeDevice.handles.withLock { $0 }
        Self.write(machine, port: 0x600, 100_000)  // A in 100 ms of device time …
        machine.timers.setPaused(true)             // … but the VM is suspended at once
        let clock = machine.timers.clockNanoseconds
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 0.4) == .timedOut)
        #expect(machine.timers.firedCount == 0)
        #expect(machine.timers.clockNanoseconds == clock)
        // Resumed: A fires, after (nearly) all of its 100 ms still to go.
        let resumed = DispatchTime.now()
        machine.timers.setPaused(false)
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        let waited = Double(DispatchTime.now().uptimeNanoseconds - resumed.uptimeNanoseconds) / 1e6
        #expect(waited >= 50, "fired \(waited) ms after the resume; the suspend counted as device time")
        #expect(TimerProbeDevice.firings.withLock { $0 } == [a])
        #expect(machine.timers.clockNanoseconds > clock)
    }

    @Test func aTimerDueWhenTheClockStopsFiresAfterItRestarts() throws {
        TimerProbeDevice.reset()
        let (machine, pdm) = try Self.machineWithProbe()
        defer { pdm.destroy() }
        let device = try #require(pdm.deviceInstances.first)
        let (a, _) = TimerProbeDevice.handles.withLock { $0 }
        // Hold the device's lock so the expired timer cannot run its callback, then stop the clock.
        device.withLock {
            #expect(machine.timers.arm(a, device: device, nanoseconds: 1_000) == VMH_OK)
            // Expired and taken by the timer thread, which now waits for the instance lock.
            var taken = false
            for _ in 0..<5_000 where !taken {
                taken = machine.timers.expiredCount == 1
                if !taken { usleep(1_000) }
            }
            #expect(taken)
            machine.timers.setPaused(true)
        }
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 0.3) == .timedOut)
        machine.timers.setPaused(false)
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        #expect(TimerProbeDevice.firings.withLock { $0 } == [a])
    }

    /// Helpers 1.2 through the real PDM table and `MachineServices`: `deviceClockNanoseconds` is the machine's
    /// device clock (frozen while it stands still), and `timerArmAt` fires at a device-clock deadline (at once for
    /// one already past) and rejects a foreign timer handle.
    @Test func deviceClockHelperAndArmingAtADeadline() throws {
        TimerProbeDevice.reset()
        let (machine, pdm) = try Self.machineWithProbe()
        defer { pdm.destroy() }
        let (ins, readClock, armAt) = try Self.clockHelpers(pdm)
        #expect((ins.pointee.hlp?.pointee.version ?? 0) & 0xff >= 2)
        let (a, b) = TimerProbeDevice.handles.withLock { $0 }

        var now: UInt64 = 0
        #expect(readClock(ins, &now) == VMH_OK)
        let before = machine.timers.clockNanoseconds
        #expect(now > 0 && now <= before)
        #expect(readClock(ins, nil) == VMH_ERR_INVALID_PARAMETER)
        machine.timers.setPaused(true)
        var frozen: UInt64 = 0
        #expect(readClock(ins, &frozen) == VMH_OK)
        usleep(30_000)
        var still: UInt64 = 0
        #expect(readClock(ins, &still) == VMH_OK)
        #expect(still == frozen)
        machine.timers.setPaused(false)

        // B at a deadline 30 ms of device time ahead; A at one already past fires first, at once.
        #expect(readClock(ins, &now) == VMH_OK)
        let armed = DispatchTime.now()
        #expect(armAt(ins, b, now + 30_000_000) == VMH_OK)
        #expect(armAt(ins, a, now - 1) == VMH_OK)
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        let waited = Double(DispatchTime.now().uptimeNanoseconds - armed.uptimeNanoseconds) / 1e6
        #expect(TimerProbeDevice.firings.withLock { $0 } == [a, b])
        #expect(waited >= 25, "B fired \(waited) ms after arming for 30 ms")
        var after: UInt64 = 0
        #expect(readClock(ins, &after) == VMH_OK)
        #expect(after >= now + 30_000_000)
        #expect(armAt(ins, 99, now) == VMH_ERR_INVALID_PARAMETER)
    }

    /// A device-clock deadline keeps its place in device time across a suspend: armed 60 ms ahead and the clock
    /// stopped at once, it does not fire while stopped and fires ≥ 40 ms after the restart. Once the timers shut
    /// down, arming answers VMH_ERR_WRONG_STATE.
    @Test func aDeadlineWaitsOutASuspendAndArmingEndsWithShutdown() throws {
        TimerProbeDevice.reset()
        let (machine, pdm) = try Self.machineWithProbe()
        defer { pdm.destroy() }
        let (ins, readClock, armAt) = try Self.clockHelpers(pdm)
        let (a, _) = TimerProbeDevice.handles.withLock { $0 }
        var now: UInt64 = 0
        #expect(readClock(ins, &now) == VMH_OK)
        #expect(armAt(ins, a, now + 60_000_000) == VMH_OK)
        machine.timers.setPaused(true)
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 0.3) == .timedOut)
        let resumed = DispatchTime.now()
        machine.timers.setPaused(false)
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        let waited = Double(DispatchTime.now().uptimeNanoseconds - resumed.uptimeNanoseconds) / 1e6
        #expect(waited >= 40, "fired \(waited) ms after the restart: the stop counted as device time")
        machine.timers.shutdown()
        #expect(armAt(ins, a, now) == VMH_ERR_WRONG_STATE)
    }

    @Test func armingFarBeyondTheClockRangeNeverFires() throws {
        TimerProbeDevice.reset()
        let (machine, pdm) = try Self.machineWithProbe()
        defer { pdm.destroy() }
        let device = try #require(pdm.deviceInstances.first)
        let (a, b) = TimerProbeDevice.handles.withLock { $0 }
        // A plugin may pass any 64-bit delay: A at UInt64.max ns must not wrap into the past and fire at once.
        #expect(machine.timers.arm(a, device: device, nanoseconds: .max) == VMH_OK)
        #expect(machine.timers.arm(b, device: device, nanoseconds: 1_000) == VMH_OK)
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
        // A wrapped deadline for A would lie before B's, so A would have fired first.
        #expect(TimerProbeDevice.firings.withLock { $0 } == [b])
        #expect(machine.timers.firedCount == 1)
    }

    @Test func noCallbackReachesADestructedDevice() throws {
        TimerProbeDevice.reset()
        let (machine, pdm) = try Self.machineWithProbe()
        let device = try #require(pdm.deviceInstances.first)
        let (a, _) = TimerProbeDevice.handles.withLock { $0 }
        pdm.destroy()
        #expect(device.isDestructed)
        // The machine (and its timer thread) outlives the PDM: a timer still armed, or armed late, is due at once
        // but must not call into the destructed plugin.
        #expect(machine.timers.arm(a, device: device, nanoseconds: 0) == VMH_OK)
        #expect(TimerProbeDevice.fired.wait(timeout: .now() + 0.5) == .timedOut)
        #expect(TimerProbeDevice.firings.withLock { $0 }.isEmpty)
        #expect(machine.timers.firedCount == 0)
    }

    @Test func timerThreadEndsWithTheMachine() throws {
        TimerProbeDevice.reset()
        weak var released: DeviceTimers?
        do {
            let (machine, pdm) = try Self.machineWithProbe()
            Self.write(machine, port: 0x600, 5_000)
            #expect(TimerProbeDevice.fired.wait(timeout: .now() + 10.0) == .success)
            Self.write(machine, port: 0x601, 60_000_000)  // still armed when the machine goes away
            released = machine.timers
            pdm.destroy()
        }
        #expect(released == nil)
    }
}
