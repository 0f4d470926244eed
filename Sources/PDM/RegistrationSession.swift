import CVMHostABI
import Synchronization

/// One module's run of its entry point: the `VMHRegistrar` table handed to the plugin, and the registrations it
/// made, held back until the registry commits them all or none.
///
/// The registrar's `hostPrivate` points at this object; the table and the object live until `run` returns, so a
/// plugin must not keep the registrar beyond its entry point.
final class RegistrationSession: Sendable {
    /// A registration accepted by the validator, waiting for the commit.
    struct PendingDevice: @unchecked Sendable {
        let registration: UnsafePointer<VMHDeviceReg>
        let values: RegistrationValidator.Accepted
    }

    struct PendingDriver: @unchecked Sendable {
        let registration: UnsafePointer<VMHDriverReg>
        let values: RegistrationValidator.Accepted
    }

    struct State: Sendable {
        var devices: [PendingDevice] = []
        var drivers: [PendingDriver] = []
        /// Every refusal, in order; the module is refused if there is any.
        var refusals: [RegistrationValidator.Refusal] = []
        var open = true
    }

    /// Where a name is already registered, if anywhere (asked of the registry for each registration).
    typealias ExistingOwner = @Sendable (_ isDevice: Bool, _ name: String) -> String?

    private let existingOwner: ExistingOwner
    let state = Mutex(State())

    init(existingOwner: @escaping ExistingOwner) {
        self.existingOwner = existingOwner
    }

    /// The sessions whose entry point is running. A registrar's `hostPrivate` is used only when it is in here, so a
    /// plugin that passes a NULL or forged registrar (or calls after its session ended and the value no longer
    /// names a running session) gets VMH_ERR_INVALID_PARAMETER instead of crashing the host.
    private static let active = Mutex<Set<UInt>>([])

    /// Calls `entry` with a fresh registrar; returns the entry point's status. Registrations are in `state`.
    func run(_ entry: VMHPluginEntry) -> Int32 {
        let key = UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque())
        RegistrationSession.active.withLock { _ = $0.insert(key) }
        defer { RegistrationSession.active.withLock { _ = $0.remove(key) } }
        let registrar = UnsafeMutablePointer<VMHRegistrar>.allocate(capacity: 1)
        defer { registrar.deallocate() }
        var table = VMHRegistrar()
        table.version = ABITable.registrar.hostVersion.rawValue
        table.abiVersion = ABITable.abi.hostVersion.rawValue
        table.hostPrivate = Unmanaged.passUnretained(self).toOpaque()
        table.registerDevice = RegistrationSession.registerDeviceThunk
        table.registerDriver = RegistrationSession.registerDriverThunk
        table.versionEnd = ABITable.registrar.hostVersion.rawValue
        registrar.initialize(to: table)
        let status = withExtendedLifetime(self) { entry(registrar, ABITable.abi.hostVersion.rawValue) }
        state.withLock { $0.open = false }
        return status
    }

    private static let registerDeviceThunk: @convention(c) (UnsafePointer<VMHRegistrar>?, UnsafePointer<VMHDeviceReg>?)
        -> Int32 = { registrar, reg in
            guard let session = RegistrationSession.session(of: registrar) else { return VMH_ERR_INVALID_PARAMETER }
            return session.registerDevice(reg)
        }

    private static let registerDriverThunk: @convention(c) (UnsafePointer<VMHRegistrar>?, UnsafePointer<VMHDriverReg>?)
        -> Int32 = { registrar, reg in
            guard let session = RegistrationSession.session(of: registrar) else { return VMH_ERR_INVALID_PARAMETER }
            return session.registerDriver(reg)
        }

    private static func session(of registrar: UnsafePointer<VMHRegistrar>?) -> RegistrationSession? {
        guard let registrar, let context = registrar.pointee.hostPrivate else { return nil }
        let key = UInt(bitPattern: context)
        // Retain while checking membership, so the session cannot go away between the check and the call.
        return active.withLock { sessions -> RegistrationSession? in
            guard sessions.contains(key) else { return nil }
            return Unmanaged<RegistrationSession>.fromOpaque(context).takeUnretainedValue()
        }
    }

    private func registerDevice(_ reg: UnsafePointer<VMHDeviceReg>?) -> Int32 {
        switch RegistrationValidator.validateDevice(reg) {
        case .failure(let refusal):
            return refuse(refusal)
        case .success(let values):
            guard let reg else { return VMH_ERR_INVALID_PARAMETER }
            if let refusal = duplicate(isDevice: true, name: values.name) { return refuse(refusal) }
            return state.withLock { state in
                guard state.open else { return VMH_ERR_WRONG_STATE }
                if state.devices.contains(where: { $0.values.name == values.name }) {
                    state.refusals.append(.init(status: VMH_ERR_ALREADY_EXISTS, kind: .duplicateName,
                                                reason: "device '\(values.name)' is registered twice by this module"))
                    return VMH_ERR_ALREADY_EXISTS
                }
                state.devices.append(PendingDevice(registration: reg, values: values))
                return VMH_OK
            }
        }
    }

    private func registerDriver(_ reg: UnsafePointer<VMHDriverReg>?) -> Int32 {
        switch RegistrationValidator.validateDriver(reg) {
        case .failure(let refusal):
            return refuse(refusal)
        case .success(let values):
            guard let reg else { return VMH_ERR_INVALID_PARAMETER }
            if let refusal = duplicate(isDevice: false, name: values.name) { return refuse(refusal) }
            return state.withLock { state in
                guard state.open else { return VMH_ERR_WRONG_STATE }
                if state.drivers.contains(where: { $0.values.name == values.name }) {
                    state.refusals.append(.init(status: VMH_ERR_ALREADY_EXISTS, kind: .duplicateName,
                                                reason: "driver '\(values.name)' is registered twice by this module"))
                    return VMH_ERR_ALREADY_EXISTS
                }
                state.drivers.append(PendingDriver(registration: reg, values: values))
                return VMH_OK
            }
        }
    }

    private func duplicate(isDevice: Bool, name: String) -> RegistrationValidator.Refusal? {
        guard let owner = existingOwner(isDevice, name) else { return nil }
        return .init(status: VMH_ERR_ALREADY_EXISTS, kind: .duplicateName,
                     reason: "\(isDevice ? "device" : "driver") '\(name)' is already registered by \(owner)")
    }

    private func refuse(_ refusal: RegistrationValidator.Refusal) -> Int32 {
        state.withLock { state in
            if state.open { state.refusals.append(refusal) }
        }
        return refusal.status
    }
}
