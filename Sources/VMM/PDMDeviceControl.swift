import PDM

extension EMTWalkWaiter: WalkWaiter {}

/// `VMDeviceControl` over the PDM: the power walks run on EMT 0 with the VM's `EMTWalkWaiter`, so priority
/// requests are served while async devices and drivers finish.
public final class PDMDeviceControl: VMDeviceControl, @unchecked Sendable {
    /// The PDM of the VM.
    public let pdm: PDMCore

    public init(pdm: PDMCore) {
        self.pdm = pdm
    }

    public func powerOn(waiter: EMTWalkWaiter) throws(VMError) {
        do { try pdm.powerOn(waiter: waiter) } catch { throw .deviceWalkFailed(operation: .powerOn, message: "\(error)") }
    }

    public func suspend(waiter: EMTWalkWaiter) throws(VMError) {
        do { try pdm.suspend(waiter: waiter) } catch { throw .deviceWalkFailed(operation: .suspend, message: "\(error)") }
    }

    public func resume(waiter: EMTWalkWaiter) throws(VMError) {
        do { try pdm.resume(waiter: waiter) } catch { throw .deviceWalkFailed(operation: .resume, message: "\(error)") }
    }

    public func reset(waiter: EMTWalkWaiter) throws(VMError) {
        do { try pdm.reset(waiter: waiter) } catch { throw .deviceWalkFailed(operation: .reset, message: "\(error)") }
    }

    public func powerOff(waiter: EMTWalkWaiter) throws(VMError) {
        do { try pdm.powerOff(waiter: waiter) } catch { throw .deviceWalkFailed(operation: .powerOff, message: "\(error)") }
    }

    public func destroy() {
        pdm.destroy()
    }
}
