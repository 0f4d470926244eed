import CKVM
import CVMHostABI
import Glibc
import PDM

/// One-shot device timers (`VMHDevHlp.timerCreate/timerArm/timerStop`), fired on one host timer thread per
/// machine with the device's instance lock held (none for THREAD_SAFE devices), on the device clock.
///
/// The device clock is the host's monotonic clock less the time the VM spent suspended: it stands still while
/// `paused` (the machine pauses it when the VM reaches SUSPENDED and restarts it when the VM runs again, or a
/// reset or power-off begins). A timer due 20 ms after it was armed fires after 20 ms of the VM's time, however
/// long a suspend in between lasted, and never while the VM is suspended — as hardware timers do not run while a
/// machine is stopped (a guest watchdog must not bite at resume because the host paused the VM for an hour).
///
/// Arm and stop may be called from any thread (EMTs in I/O handlers, the timer thread in a callback, plugin
/// threads). A timer stopped or re-armed after it expired but before its callback ran is not fired: the check
/// happens under the device lock, which arm/stop callers from device code hold. The thread starts with the first
/// arm and ends with `shutdown()` (the machine calls it when it goes away).
public final class DeviceTimers: @unchecked Sendable {
    private struct Timer {
        let device: DeviceInstance
        let callback: VMHTimerCallback
        let user: UnsafeMutableRawPointer?
        let description: String
        var deadline: UInt64?
        var generation: UInt64 = 0
    }

    private var timers: [Timer] = []
    private var stopping = false
    private var thread: pthread_t?
    private var fired: UInt64 = 0
    private var expired: UInt64 = 0
    /// Host time the device clock stopped at (nil while it runs), and the total host time it has stood still.
    private var pausedSince: UInt64?
    private var pausedTotal: UInt64 = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        cond = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Host monotonic clock in nanoseconds.
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Number of callbacks started so far.
    public var firedCount: UInt64 { locked { fired } }

    /// Number of expiries the timer thread has taken for firing (each then waits for its device's lock, and may
    /// still be cancelled or, if the clock stopped meanwhile, put back).
    public var expiredCount: UInt64 { locked { expired } }

    /// The device clock (ns): host monotonic time less the time spent paused. Mutex held.
    private func deviceNow(host: UInt64) -> UInt64 { (pausedSince ?? host) &- pausedTotal }

    /// The device clock now, in nanoseconds (stands still while paused).
    public var clockNanoseconds: UInt64 { locked { deviceNow(host: Self.now()) } }

    /// Whether the device clock stands still (the VM is suspended).
    public var isPaused: Bool { locked { pausedSince != nil } }

    /// Stops (true) or restarts (false) the device clock. While stopped no timer fires, and deadlines move with the
    /// clock. Idempotent; any thread.
    public func setPaused(_ paused: Bool) {
        locked {
            let host = Self.now()
            if paused {
                if pausedSince == nil { pausedSince = host }
            } else if let since = pausedSince {
                pausedTotal &+= host &- since
                pausedSince = nil
                pthread_cond_signal(cond)
            }
        }
    }

    /// Creates a disarmed timer for `device`; returns its handle (never 0).
    public func create(device: DeviceInstance, callback: @escaping VMHTimerCallback, user: UnsafeMutableRawPointer?,
                       description: String) -> UInt64 {
        locked {
            timers.append(Timer(device: device, callback: callback, user: user, description: description))
            return UInt64(timers.count)
        }
    }

    /// Arms `handle` (owned by `device`) to fire `nanoseconds` of device-clock time from now, replacing an earlier
    /// deadline.
    public func arm(_ handle: UInt64, device: DeviceInstance, nanoseconds: UInt64) -> Int32 {
        locked {
            // Saturate: a wrapped sum would lie in the past and fire at once instead of (practically) never.
            let (sum, overflow) = deviceNow(host: Self.now()).addingReportingOverflow(nanoseconds)
            return armLocked(handle, device: device, deadline: overflow ? UInt64.max : sum)
        }
    }

    /// Arms `handle` (owned by `device`) to fire when the device clock reaches `deadline` (at once if it has),
    /// replacing an earlier deadline.
    public func arm(_ handle: UInt64, device: DeviceInstance, deadline: UInt64) -> Int32 {
        locked { armLocked(handle, device: device, deadline: deadline) }
    }

    /// Mutex held.
    private func armLocked(_ handle: UInt64, device: DeviceInstance, deadline: UInt64) -> Int32 {
        guard let i = index(handle, device) else { return VMH_ERR_INVALID_PARAMETER }
        guard !stopping else { return VMH_ERR_WRONG_STATE }
        timers[i].deadline = deadline
        timers[i].generation &+= 1
        if thread == nil { startThread() }
        pthread_cond_signal(cond)
        return VMH_OK
    }

    /// Disarms `handle` (owned by `device`).
    public func stop(_ handle: UInt64, device: DeviceInstance) -> Int32 {
        locked {
            guard let i = index(handle, device) else { return VMH_ERR_INVALID_PARAMETER }
            timers[i].deadline = nil
            timers[i].generation &+= 1
            return VMH_OK
        }
    }

    private func index(_ handle: UInt64, _ device: DeviceInstance) -> Int? {
        guard handle >= 1, handle <= UInt64(timers.count) else { return nil }
        let i = Int(handle - 1)
        return timers[i].device === device ? i : nil
    }

    /// Stops the timer thread (waits for a running callback) and disarms everything. Idempotent.
    public func shutdown() {
        let running: pthread_t? = locked {
            stopping = true
            for i in timers.indices { timers[i].deadline = nil }
            pthread_cond_signal(cond)
            let t = thread
            thread = nil
            return t
        }
        if let running, pthread_equal(running, pthread_self()) == 0 { pthread_join(running, nil) }
    }

    // Called with the mutex held.
    private func startThread() {
        var t = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        if pthread_create(&t, nil, deviceTimerThreadEntry, context) == 0 {
            thread = t
        } else {
            Unmanaged<DeviceTimers>.fromOpaque(context).release()
        }
    }

    fileprivate func threadMain() {
        ThreadScheduling.adoptProcessDefault()
        ckvm_set_thread_name("device-timers")
        pthread_mutex_lock(mutex)
        while !stopping {
            guard pausedSince == nil else {
                pthread_cond_wait(cond, mutex)  // the clock stands still: nothing is due until it runs again
                continue
            }
            let now = deviceNow(host: Self.now())
            var next: UInt64?
            var due: [(index: Int, generation: UInt64, deadline: UInt64)] = []
            for i in timers.indices {
                guard let d = timers[i].deadline else { continue }
                if d <= now {
                    timers[i].deadline = nil
                    expired += 1
                    due.append((i, timers[i].generation, d))
                } else {
                    next = min(next ?? d, d)
                }
            }
            if due.isEmpty {
                if let next {
                    // The host time at which the device clock reaches `next` (it runs at the host's rate).
                    let (wake, overflow) = next.addingReportingOverflow(pausedTotal)
                    let at = overflow ? UInt64.max : wake
                    var ts = timespec(tv_sec: Int(min(at / 1_000_000_000, UInt64(Int.max))),
                                      tv_nsec: Int(at % 1_000_000_000))
                    pthread_cond_timedwait(cond, mutex, &ts)
                } else {
                    pthread_cond_wait(cond, mutex)  // nothing armed
                }
                continue
            }
            due.sort { ($0.deadline, $0.index) < ($1.deadline, $1.index) }
            for (i, generation, deadline) in due {
                let timer = timers[i]
                pthread_mutex_unlock(mutex)
                timer.device.withLock {
                    // Still the same arming? (a stop or re-arm after expiry cancels this firing)
                    let (current, paused) = locked { (stopping ? UInt64.max : timers[i].generation, pausedSince != nil) }
                    // … and the plugin has not destructed the instance (its callback state may be gone).
                    guard current == generation, !timer.device.isDestructed else { return }
                    guard !paused else {
                        // The VM was suspended between expiry and here: fire after the resume instead.
                        locked { if timers[i].generation == generation { timers[i].deadline = deadline } }
                        return
                    }
                    locked { fired += 1 }
                    timer.callback(timer.device.devIns, timer.user, UInt64(i + 1))
                }
                pthread_mutex_lock(mutex)
            }
        }
        pthread_mutex_unlock(mutex)
    }
}

/// The timer thread's start routine (non-capturing; the service arrives retained through `context`).
private let deviceTimerThreadEntry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { context in
    guard let context else { return nil }
    let timers = Unmanaged<DeviceTimers>.fromOpaque(context).takeRetainedValue()
    var set = sigset_t()
    sigfillset(&set)
    pthread_sigmask(SIG_BLOCK, &set, nil)  // signals (EMT kicks) are for EMTs
    timers.threadMain()
    return nil
}
