/// A one-line-per-part picture of the EMT machinery for a stuck operation's log line or a test failure: every
/// EMT's activity and flags, the request lists and the rendezvous round in progress. Reads racy snapshots
/// without stopping anything; for humans, not for decisions.
extension EMTGroup {
    public func diagnostics() -> String {
        var lines: [String] = []
        lines.append("vm flags \(String(vmFlags.current.rawValue, radix: 2)); guest runnable "
            + "\(guestRunnable.load(ordering: .relaxed)); global queue \(requests.global.counts)")
        for emt in emts {
            lines.append("EMT \(emt.id): \(emt.activityDescription), flags \(String(emt.flags.current.rawValue, radix: 2)), "
                + "queue \(requests.perVCPU[emt.id].counts), last rendezvous \(emt.lastRendezvousGeneration), "
                + "last request taken #\(emt.lastTakenRequest.load(ordering: .relaxed)) "
                + "answered #\(emt.lastAnsweredRequest.load(ordering: .relaxed))")
        }
        let awaited = requests.awaited.withLock { $0.sorted() }
        lines.append("requests: last queued #\(requests.lastSerial.load(ordering: .relaxed)); outside threads wait for "
            + (awaited.isEmpty ? "none" : awaited.map { "#\($0)" }.joined(separator: ", "))
            + "; requester re-checks \(requests.requesterRechecks.load(ordering: .relaxed))")
        lines.append("rendezvous: \(rendezvous.roundDescription)")
        return lines.joined(separator: "\n")
    }
}

extension RequestList {
    /// "priority P, normal N".
    var counts: String {
        lanes.withLock { "priority \($0.priority.count), normal \($0.normal.count)" }
    }
}
