import CVMHostABI
import PDM

/// What `fuzzIO` did.
public struct FuzzStatistics: Sendable, Equatable {
    /// Port and MMIO reads issued.
    public var reads = 0
    /// Port and MMIO writes issued.
    public var writes = 0
    /// Accesses whose handler returned something other than VMH_OK.
    public var failedAccesses = 0
    /// Registered ranges exercised (ports + MMIO).
    public var ranges = 0
}

/// A small deterministic PRNG (SplitMix64) so a failing fuzz run can be repeated from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }
    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension PluginTestHarness {
    /// Random guest reads and writes of random sizes (ports: 1/2/4 bytes; MMIO: 1/2/4/8 bytes) at random offsets
    /// of every registered range, through the registered handlers under the device locks. A plugin that crashes
    /// takes the test process down (the test fails); surviving returns the statistics. Same seed, same accesses.
    @discardableResult
    public func fuzzIO(iterations: Int, seed: UInt64 = 1) -> FuzzStatistics {
        var rng = SplitMix64(seed: seed)
        var stats = FuzzStatistics()
        let ports = vmm.portRanges
        let mmio = vmm.mmioRanges
        stats.ranges = ports.count + mmio.count
        guard stats.ranges > 0 else { return stats }
        let portSizes: [UInt32] = [1, 2, 4]
        let mmioSizes: [UInt32] = [1, 2, 4, 8]
        for _ in 0..<max(0, iterations) {
            let pick = Int.random(in: 0..<stats.ranges, using: &rng)
            let isWrite = Bool.random(using: &rng)
            if pick < ports.count {
                let range = ports[pick]
                let port = range.port &+ UInt16.random(in: 0..<range.count, using: &rng)
                let size = portSizes.randomElement(using: &rng) ?? 1
                let status: Int32
                if isWrite {
                    status = vmm.portOut(port, size: size, value: UInt32.random(in: 0...UInt32.max, using: &rng))
                    stats.writes += 1
                } else {
                    status = vmm.portIn(port, size: size).status
                    stats.reads += 1
                }
                if status != VMH_OK { stats.failedAccesses += 1 }
            } else {
                let range = mmio[pick - ports.count]
                let size = mmioSizes.randomElement(using: &rng) ?? 4
                let span = range.size > UInt64(size) ? range.size - UInt64(size) : 0
                let gpa = range.gpa + UInt64.random(in: 0...span, using: &rng)
                let status: Int32
                if isWrite {
                    status = vmm.mmioWrite(gpa, size: size, value: UInt64.random(in: 0...UInt64.max, using: &rng))
                    stats.writes += 1
                } else {
                    status = vmm.mmioRead(gpa, size: size).status
                    stats.reads += 1
                }
                if status != VMH_OK { stats.failedAccesses += 1 }
            }
        }
        return stats
    }
}
