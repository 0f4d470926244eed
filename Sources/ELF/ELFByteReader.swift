/// Bounds-checked reads of unsigned integers out of raw file bytes.
enum ELFByteReader {
    /// The unsigned integer of `size` bytes (1...8) at `offset` into `bytes`, or nil when any byte is outside.
    static func unsigned(_ bytes: ArraySlice<UInt8>, at offset: Int, size: Int,
                         encoding: ELFDataEncoding) -> UInt64? {
        guard size > 0, size <= 8, offset >= 0, offset <= bytes.count - size else { return nil }
        let start = bytes.startIndex + offset
        var value: UInt64 = 0
        for i in 0..<size {
            let byte = UInt64(bytes[start + (encoding == .littleEndian ? size - 1 - i : i)])
            value = (value << 8) | byte
        }
        return value
    }
}
