/// Why a PDM operation failed. Every case names the device, driver, LUN or configuration key at fault.
public enum PDMError: Error, Sendable, CustomStringConvertible {
    /// The configuration names something the registry does not have, or breaks a limit.
    case configuration(ConfigurationError)
    /// A device constructor returned `status`; `details` holds the configuration and driver messages recorded
    /// while it ran. Everything constructed before was destructed.
    case constructionFailed(instance: String, configPath: String, status: Int32, details: [String])
    /// The configuration gives `lun` of `instance` a driver chain that the device (or a driver in it) did not
    /// attach; `configPath` names the first driver left unattached.
    case lunNotAttached(instance: String, lun: UInt32, configPath: String, details: [String])
    /// An initComplete callback failed; everything was destructed.
    case initCompleteFailed(instance: String, status: Int32)
    /// A power-on or resume callback of `instance` returned `status`. The instances already powered on (resumed)
    /// were powered off (suspended) again; `rollbackError` says if that rollback itself failed.
    case callbackFailed(operation: PowerOperation, instance: String, status: Int32, rollbackError: String?)
    /// A suspend, reset or power-off walk passed its deadline. `neverFinished` went async and never completed
    /// (they are now marked failed-to-quiesce and are no longer polled); `notReached` were never notified because
    /// they were blocked behind one of them (drivers below a pending driver, a device whose drivers are pending).
    case deadlineExceeded(operation: PowerOperation, milliseconds: Int64, neverFinished: [String], notReached: [String])
    /// The operation is not allowed in the PDM's current state.
    case wrongState(String)

    public var description: String {
        switch self {
        case .configuration(let error):
            return error.description
        case .constructionFailed(let instance, let path, let status, let details):
            let extra = details.isEmpty ? "" : ": " + details.joined(separator: "; ")
            return "\(path): device \(instance) failed to construct with \(vmhStatusName(status))\(extra)"
        case .lunNotAttached(let instance, let lun, let path, let details):
            let extra = details.isEmpty ? "" : ": " + details.joined(separator: "; ")
            return "\(path): LUN \(lun) of device \(instance) has this driver configured but it was not attached\(extra)"
        case .initCompleteFailed(let instance, let status):
            return "\(instance): initComplete failed with \(vmhStatusName(status))"
        case .callbackFailed(let op, let instance, let status, let rollback):
            let rolled = rollback.map { "; rollback failed too: \($0)" } ?? "; instances already done were rolled back"
            return "\(op.rawValue): \(instance) failed with \(vmhStatusName(status))\(rolled)"
        case .deadlineExceeded(let op, let ms, let never, let notReached):
            var text = "\(op.rawValue): deadline of \(ms) ms passed; never finished: \(never.joined(separator: ", "))"
            if !notReached.isEmpty { text += "; not reached: \(notReached.joined(separator: ", "))" }
            return text
        case .wrongState(let message):
            return message
        }
    }
}
