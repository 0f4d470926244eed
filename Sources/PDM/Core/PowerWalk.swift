import CVMHostABI
import Logging

extension PDMCore {
    /// Power-on walk: per device (instantiation order) its LUN drivers top→bottom, then the device. No async. A
    /// failing callback stops the walk and the instances already powered on are powered off again.
    public func powerOn(waiter: (any WalkWaiter)? = nil) throws(PDMError) {
        try startWalk(.powerOn, waiter: waiter ?? defaultWaiter)
    }

    /// Resume walk: like power-on; on failure the instances already resumed are suspended again.
    public func resume(waiter: (any WalkWaiter)? = nil) throws(PDMError) {
        try startWalk(.resume, waiter: waiter ?? defaultWaiter)
    }

    /// Suspend walk: per device its LUN chains top→bottom then the device (or the device first when it has
    /// VMH_DEVREG_F_FIRST_SUSPEND). Instances may go async; the walk passes again whenever one completes, until none
    /// is pending or `pdm.async-deadline-ms` passes (then `PDMError.deadlineExceeded`; the instances that never
    /// finished are marked failed-to-quiesce and are no longer polled; the PDM stays usable and a power-off walk
    /// still reaches every instance).
    public func suspend(waiter: (any WalkWaiter)? = nil) throws(PDMError) {
        try quiesceWalk(.suspend, waiter: waiter ?? defaultWaiter, clearGuards: false)
    }

    /// Hard-reset walk (FIRST_RESET ordering, async allowed); every instance gets reset exactly once.
    public func reset(waiter: (any WalkWaiter)? = nil) throws(PDMError) {
        try quiesceWalk(.reset, waiter: waiter ?? defaultWaiter, clearGuards: true)
    }

    /// Power-off walk (FIRST_POWEROFF ordering, async allowed). Reaches every instance, including suspended ones.
    public func powerOff(waiter: (any WalkWaiter)? = nil) throws(PDMError) {
        try quiesceWalk(.powerOff, waiter: waiter ?? defaultWaiter, clearGuards: true)
    }

    // MARK: - Walks

    private func checkWalkAllowed(_ operation: PowerOperation) throws(PDMError) {
        guard state == .constructed else {
            throw .wrongState("\(operation.rawValue): the PDM is \(state == .created ? "not constructed" : "destroyed")")
        }
        guard !walkRunning else { throw .wrongState("\(operation.rawValue): another power walk is running") }
    }

    private func startWalk(_ operation: PowerOperation, waiter: any WalkWaiter) throws(PDMError) {
        try checkWalkAllowed(operation)
        walkRunning = true
        defer { walkRunning = false }
        for device in devices {
            for attachment in device.luns {
                for driver in attachment.drivers {
                    let status = start(driver, operation)
                    if status != VMH_OK { try rollBack(operation, failed: driver.name, status: status, waiter: waiter) }
                }
            }
            let status = start(device, operation)
            if status != VMH_OK { try rollBack(operation, failed: device.name, status: status, waiter: waiter) }
        }
    }

    private func start(_ node: some PowerNode, _ operation: PowerOperation) -> Int32 {
        guard node.power.quiesced else { return VMH_OK }
        let status = node.callStart(operation)
        if status == VMH_OK {
            node.power.quiesced = false
            node.power.failedToQuiesce.store(false, ordering: .relaxed)
        }
        return status
    }

    /// Undo a failed power-on (power off) or resume (suspend): only instances no longer quiesced are notified.
    private func rollBack(_ operation: PowerOperation, failed: String, status: Int32,
                          waiter: any WalkWaiter) throws(PDMError) -> Never {
        logger.error("\(operation.rawValue): \(failed) failed with \(vmhStatusName(status)); rolling back")
        var rollbackError: String?
        do {
            try runQuiesceWalk(operation == .powerOn ? .powerOff : .suspend, waiter: waiter, clearGuards: false)
        } catch {
            rollbackError = error.description
        }
        throw .callbackFailed(operation: operation, instance: failed, status: status, rollbackError: rollbackError)
    }

    private func quiesceWalk(_ operation: PowerOperation, waiter: any WalkWaiter, clearGuards: Bool) throws(PDMError) {
        try checkWalkAllowed(operation)
        walkRunning = true
        defer { walkRunning = false }
        try runQuiesceWalk(operation, waiter: waiter, clearGuards: clearGuards)
    }

    private func forEachNode(_ body: (any PowerNode) -> Void) {
        for device in devices {
            body(device)
            for attachment in device.luns {
                for driver in attachment.drivers { body(driver) }
            }
        }
    }

    private func runQuiesceWalk(_ operation: PowerOperation, waiter: any WalkWaiter, clearGuards: Bool) throws(PDMError) {
        if clearGuards {
            forEachNode { node in
                if operation == .reset { node.power.resetDone = false } else { node.power.quiesced = false }
            }
        }
        let firstFlag: UInt32
        switch operation {
        case .suspend: firstFlag = UInt32(VMH_DEVREG_F_FIRST_SUSPEND)
        case .powerOff: firstFlag = UInt32(VMH_DEVREG_F_FIRST_POWEROFF)
        default: firstFlag = UInt32(VMH_DEVREG_F_FIRST_RESET)
        }
        beginWalk(waiter: waiter)
        defer { endWalk() }

        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started.advanced(by: .milliseconds(configuration.pdm.asyncDeadlineMilliseconds))
        var schedule = ProgressSchedule()
        var passes = 0
        var pending: [any PowerNode] = []

        while true {
            passes += 1
            pending.removeAll(keepingCapacity: true)
            for device in devices {
                let before = pending.count
                let first = device.flags & firstFlag != 0
                if first, !notify(device, operation) { pending.append(device) }
                if pending.count == before {
                    for attachment in device.luns {
                        for driver in attachment.drivers where !notify(driver, operation) {
                            pending.append(driver)
                            break
                        }
                    }
                    if !first, pending.count == before, !notify(device, operation) { pending.append(device) }
                }
            }
            if pending.isEmpty { return }

            // Wait for a completion; log progress on schedule; give up at the deadline.
            while true {
                let elapsed = Self.milliseconds(started.duration(to: clock.now))
                if schedule.due(at: elapsed) {
                    reportProgress(WalkProgress(operation: operation, elapsedMilliseconds: elapsed, passes: passes,
                                                pending: pending.map(\.name)))
                }
                if clock.now >= deadline {
                    throw deadlineExceeded(operation, pending: pending)
                }
                let nextLine = started.advanced(by: .milliseconds(schedule.nextMilliseconds))
                if waiter.wait(until: min(deadline, nextLine)) { break }
            }
        }
    }

    /// Delivers `operation` to one instance unless its guard says it already got it. Returns false while the
    /// instance is asynchronous (its poller has not returned true yet).
    private func notify(_ node: some PowerNode, _ operation: PowerOperation) -> Bool {
        let power = node.power
        if operation == .reset ? power.resetDone : power.quiesced { return true }
        if power.hasPoller {
            guard node.callPoller() else { return false }
            power.clearPoller()
            power.asyncPending.store(false, ordering: .relaxed)
            pluginDone(node, operation)
        } else {
            power.notifying = operation
            let called = node.callQuiesce(operation)
            power.notifying = nil
            if called && power.hasPoller {
                power.asyncPending.store(true, ordering: .relaxed)
                return false
            }
        }
        if operation == .reset { power.resetDone = true } else { power.quiesced = true }
        return true
    }

    private func pluginDone(_ node: some PowerNode, _ operation: PowerOperation) {
        logger.debug("\(operation.rawValue): \(node.name) finished its async work")
    }

    private func reportProgress(_ progress: WalkProgress) {
        logger.info("\(progress.description)")
        progressObserver?(progress)
    }

    private func deadlineExceeded(_ operation: PowerOperation, pending: [any PowerNode]) -> PDMError {
        let pendingNames = Set(pending.map(\.name))
        for node in pending {
            node.power.clearPoller()
            node.power.asyncPending.store(false, ordering: .relaxed)
            node.power.failedToQuiesce.store(true, ordering: .relaxed)
            if operation == .reset { node.power.resetDone = true } else { node.power.quiesced = true }
        }
        var notReached: [String] = []
        forEachNode { node in
            let done = operation == .reset ? node.power.resetDone : node.power.quiesced
            if !done && !pendingNames.contains(node.name) { notReached.append(node.name) }
        }
        let error = PDMError.deadlineExceeded(operation: operation, milliseconds: configuration.pdm.asyncDeadlineMilliseconds,
                                              neverFinished: pending.map(\.name), notReached: notReached)
        logger.error("\(error.description)")
        return error
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
