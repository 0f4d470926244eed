import CVMHostABI
import Synchronization

/// The power operations a walk performs.
public enum PowerOperation: String, Sendable, CaseIterable {
    case powerOn, resume, suspend, reset, powerOff

    /// May instances go async during this operation?
    var allowsAsync: Bool { self == .suspend || self == .reset || self == .powerOff }
}

/// Per-instance walk bookkeeping (touched only by the walking thread, except the two atomics read by queries).
final class PowerState: @unchecked Sendable {
    /// Guard for suspend / power-off (set = already notified); new instances start quiesced. Power-on and resume
    /// clear it; power-off clears it on every instance first so suspended instances get powerOff too.
    var quiesced = true
    /// Guard for reset (set = reset already delivered in this reset walk).
    var resetDone = false
    /// Which callback of this instance is running right now (setAsyncNotification is valid only then).
    var notifying: PowerOperation?
    /// The poller registered with setAsyncNotification, still waiting for `true`. Device or driver kind.
    var devicePoller: VMHDevAsyncNotify?
    var driverPoller: VMHDrvAsyncNotify?
    /// For queries from other threads (`GET /devices`).
    let asyncPending = Atomic<Bool>(false)
    let failedToQuiesce = Atomic<Bool>(false)

    var hasPoller: Bool { devicePoller != nil || driverPoller != nil }

    func clearPoller() {
        devicePoller = nil
        driverPoller = nil
    }
}
