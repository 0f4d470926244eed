/// The device side of a VM as `VirtualMachine` drives it: the PDM power walks. Every method is called on EMT 0
/// inside the operation's rendezvous (all other EMTs parked, no guest code running). Walks that may go async
/// wait with `waiter`, which keeps serving priority requests.
public protocol VMDeviceControl: AnyObject, Sendable {
    func powerOn(waiter: EMTWalkWaiter) throws(VMError)
    func suspend(waiter: EMTWalkWaiter) throws(VMError)
    func resume(waiter: EMTWalkWaiter) throws(VMError)
    func reset(waiter: EMTWalkWaiter) throws(VMError)
    func powerOff(waiter: EMTWalkWaiter) throws(VMError)
    /// Destructs every instance (VM destruction, on EMT 0).
    func destroy()
}

/// The machine-wide part of a hard reset, provided by the machine half (reload the guest image, reset the
/// irqchip/PIT). Called on EMT 0 inside the reset rendezvous, after the PDM reset walk and before the vCPUs'
/// `resetToPowerOnState()` of EMT 0 (the other EMTs reset their vCPUs earlier in the same rendezvous).
public protocol VMMachineControl: AnyObject, Sendable {
    func resetMachine() throws(VMError)
}
