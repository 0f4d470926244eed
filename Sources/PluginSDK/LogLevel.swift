/// Severity of a line logged through the host (`VMH_LOG_*`).
public enum LogLevel: Int32, Sendable, CaseIterable {
    /// `VMH_LOG_TRACE`.
    case trace = 0
    /// `VMH_LOG_DEBUG`.
    case debug = 1
    /// `VMH_LOG_INFO`.
    case info = 2
    /// `VMH_LOG_NOTICE`.
    case notice = 3
    /// `VMH_LOG_WARNING`.
    case warning = 4
    /// `VMH_LOG_ERROR`.
    case error = 5
}
