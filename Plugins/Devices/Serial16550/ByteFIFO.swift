/// A fixed 16-byte FIFO stored inline (no heap), as the 16550's receive and transmit FIFOs. `limit` is the usable
/// depth: 16 with the FIFOs enabled, 1 in 16450 (character) mode.
struct ByteFIFO {
    static let capacity = 16

    private var storage: (UInt64, UInt64) = (0, 0)
    private var head = 0
    private(set) var count = 0
    /// Usable depth (1...16).
    var limit = 1

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count >= limit }
    var space: Int { max(0, limit - count) }

    /// Appends `byte`; false (byte dropped) when full.
    @discardableResult
    mutating func push(_ byte: UInt8) -> Bool {
        guard count < limit else { return false }
        let index = (head + count) % Self.capacity
        withUnsafeMutableBytes(of: &storage) { $0[index] = byte }
        count += 1
        return true
    }

    /// Removes and returns the oldest byte, nil when empty.
    mutating func pop() -> UInt8? {
        guard count > 0 else { return nil }
        let byte = withUnsafeBytes(of: &storage) { $0[head] }
        head = (head + 1) % Self.capacity
        count -= 1
        return byte
    }

    /// The oldest byte without removing it.
    func peek() -> UInt8? {
        guard count > 0 else { return nil }
        return withUnsafeBytes(of: storage) { $0[head] }
    }

    /// Copies up to `maximum` oldest bytes into `buffer` (which holds at least 16); returns how many.
    func copyPrefix(into buffer: UnsafeMutableRawBufferPointer, maximum: Int) -> Int {
        let n = min(count, maximum, buffer.count)
        withUnsafeBytes(of: storage) { bytes in
            for i in 0..<n { buffer[i] = bytes[(head + i) % Self.capacity] }
        }
        return n
    }

    /// Drops the `n` oldest bytes.
    mutating func drop(_ n: Int) {
        let k = min(max(0, n), count)
        head = (head + k) % Self.capacity
        count -= k
    }

    mutating func clear() {
        head = 0
        count = 0
    }
}
