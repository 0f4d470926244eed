/// A configuration document as a tree: what the YAML front end (`libVMHostYAML.so`) composes and the
/// configuration parser walks. Scalars keep whether they were plain (`port: 0x3f8` may be an integer) or quoted
/// (`port: "0x3f8"` is a string); mappings keep document order and duplicates, so the parser can name both.
indirect enum ConfigNode: Sendable {
    case scalar(String, plain: Bool)
    case sequence([ConfigNode])
    case mapping([(key: ConfigNode, value: ConfigNode)])
    case alias

    /// Decodes the library's encoding (see Sources/VMHostYAML/YAMLCompose.swift); nil if it is malformed.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> ConfigNode? {
        var offset = 0
        guard let node = decodeNode(bytes, &offset, depth: 0), offset == bytes.count else { return nil }
        return node
    }

    private static func decodeNode(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int, depth: Int) -> ConfigNode? {
        guard depth < 512, offset < bytes.count else { return nil }
        let tag = bytes[offset]
        offset += 1
        switch tag {
        case UInt8(ascii: "S"), UInt8(ascii: "Q"):
            guard let count = decodeCount(bytes, &offset), count <= bytes.count - offset else { return nil }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]), as: UTF8.self)
            offset += count
            return .scalar(text, plain: tag == UInt8(ascii: "S"))
        case UInt8(ascii: "L"):
            guard let count = decodeCount(bytes, &offset), count <= bytes.count - offset else { return nil }
            var items: [ConfigNode] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                guard let item = decodeNode(bytes, &offset, depth: depth + 1) else { return nil }
                items.append(item)
            }
            return .sequence(items)
        case UInt8(ascii: "M"):
            guard let count = decodeCount(bytes, &offset), count <= bytes.count - offset else { return nil }
            var pairs: [(key: ConfigNode, value: ConfigNode)] = []
            pairs.reserveCapacity(count)
            for _ in 0..<count {
                guard let key = decodeNode(bytes, &offset, depth: depth + 1),
                      let value = decodeNode(bytes, &offset, depth: depth + 1) else { return nil }
                pairs.append((key, value))
            }
            return .mapping(pairs)
        case UInt8(ascii: "A"):
            return .alias
        default:
            return nil
        }
    }

    private static func decodeCount(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> Int? {
        guard bytes.count - offset >= 4 else { return nil }
        var value = 0
        for i in 0..<4 { value |= Int(bytes[offset + i]) << (8 * i) }
        offset += 4
        return value
    }
}
