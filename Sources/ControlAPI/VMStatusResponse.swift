/// `GET /vm`: the VM's state, why it is there, its vCPUs, uptime and boot timeline.
public struct VMStatusResponse: Codable, Sendable, Equatable {
    /// A VMM state name (`running`, `suspended`, `guruMeditation`, …; see `VMState`).
    public var state: String
    /// Why the VM is in that state: the suspend reason (`user`, `io-error`, `guest-debug`, `host`), the guru
    /// meditation reason, or nil.
    public var reason: String?
    /// Number of vCPUs.
    public var vcpus: Int
    /// Milliseconds since the VM first reached `running` (nil before power-on).
    public var uptimeMs: Double?
    /// Milestones in ms since process start (`process_start_ms`, `arguments_parsed_ms`, `configuration_loaded_ms`,
    /// `plugins_loaded_ms`, `api_socket_ready_ms`, `first_kvm_run_ms`, `first_serial_byte_ms`); only those reached.
    public var bootTimeline: [String: Double]
    /// The exit status a device asked for (DebugExit), once requested.
    public var exitStatus: Int32?
    /// The guru-meditation record, if a vCPU failed.
    public var guruMeditation: GuruMeditationInfo?

    enum CodingKeys: String, CodingKey {
        case state, reason, vcpus
        case uptimeMs = "uptime_ms"
        case bootTimeline = "boot_timeline"
        case exitStatus = "exit_status"
        case guruMeditation = "guru_meditation"
    }
}

/// A vCPU failure as `GET /vm` and the event stream show it.
public struct GuruMeditationInfo: Codable, Sendable, Equatable {
    public var vcpu: Int
    public var reason: String
    public var registers: String
}
