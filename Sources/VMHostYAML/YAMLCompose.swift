import Yams
#if canImport(Glibc)
import Glibc
#endif

// The YAML front end of the configuration, in a library of its own (`libVMHostYAML.so`): Yams needs Foundation,
// which costs `vmhost` about 4 ms of start-up and 6 MiB of memory, so the host loads this library only when it
// reads a configuration file. It composes the document with Yams and hands back the node tree in the compact
// encoding `ConfigNode` (Sources/PDM/Configuration/ConfigNode.swift) decodes:
//   'S' / 'Q'  plain / quoted-or-block scalar: UInt32 LE byte count, UTF-8 bytes
//   'L'        sequence: UInt32 LE count, the items
//   'M'        mapping: UInt32 LE count, key and value of each pair in document order
//   'A'        alias
// An empty document is an empty encoding.

/// Composes `text` (NUL-terminated UTF-8). Returns 0 with the encoded tree, or 1 with Yams's error message
/// (UTF-8); either way `*output` is a `malloc`ed buffer of `*outputLength` bytes that the caller `free`s.
@_cdecl("vmhost_yaml_compose")
public func vmhostYAMLCompose(_ text: UnsafePointer<CChar>, _ output: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                              _ outputLength: UnsafeMutablePointer<Int>) -> Int32 {
    var bytes: [UInt8] = []
    var status: Int32 = 0
    do {
        if let root = try Yams.compose(yaml: String(cString: text)) { encode(root, into: &bytes) }
    } catch {
        bytes = Array("\(error)".utf8)
        status = 1
    }
    let buffer = malloc(max(bytes.count, 1))
    if let buffer, !bytes.isEmpty {
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }
    output.pointee = buffer
    outputLength.pointee = buffer == nil ? 0 : bytes.count
    return buffer == nil ? 2 : status
}

private func encode(_ node: Node, into bytes: inout [UInt8]) {
    switch node {
    case let .scalar(scalar):
        bytes.append(scalar.style == .plain ? UInt8(ascii: "S") : UInt8(ascii: "Q"))
        let utf8 = Array(scalar.string.utf8)
        appendCount(utf8.count, to: &bytes)
        bytes.append(contentsOf: utf8)
    case let .sequence(sequence):
        bytes.append(UInt8(ascii: "L"))
        appendCount(sequence.count, to: &bytes)
        for item in sequence { encode(item, into: &bytes) }
    case let .mapping(mapping):
        bytes.append(UInt8(ascii: "M"))
        appendCount(mapping.count, to: &bytes)
        for (key, value) in mapping {
            encode(key, into: &bytes)
            encode(value, into: &bytes)
        }
    case .alias:
        bytes.append(UInt8(ascii: "A"))
    }
}

private func appendCount(_ count: Int, to bytes: inout [UInt8]) {
    let value = UInt32(truncatingIfNeeded: count)
    for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
}
