/// An informational scheduling code an EMT callback may return, telling EMTs what to do next.
/// Lower raw values are more important (`terminate` beats `off` beats `suspend` …).
public enum EMTInfo: Int, Sendable, Comparable, CaseIterable {
    case terminate = 0
    case off
    case suspend
    case reset
    case halt
    case resume
    case reschedule

    public static func < (lhs: EMTInfo, rhs: EMTInfo) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The status of a request or rendezvous callback: success, an informational scheduling code, or a failure.
public enum EMTStatus: Sendable, Equatable {
    case success
    case info(EMTInfo)
    case failure(VMError)

    /// True for `.failure`.
    public var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }

    /// The informational part only (failures and success give `.success`): what a non-initiating EMT learns
    /// from a rendezvous.
    public var informationalPart: EMTStatus {
        if case .info = self { return self }
        return .success
    }

    /// Merges `new` into `self`: the first failure wins; a failure beats an informational code; among
    /// informational codes the most important (lowest) wins; success never replaces anything.
    public func merged(with new: EMTStatus) -> EMTStatus {
        switch (self, new) {
        case (.failure, _): return self
        case (_, .failure): return new
        case (.success, _): return new
        case (.info, .success): return self
        case let (.info(a), .info(b)): return .info(min(a, b))
        }
    }
}
