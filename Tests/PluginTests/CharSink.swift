// CharSink: an in-process stub char driver for plugin tests. It offers VMH_IID_CHAR_CONNECTOR and records the
// bytes written to it under its `tag` setting (so suites running in parallel keep their bytes apart). Register it
// with `harness.registerStatic(moduleName: CharSink.moduleName, entry: CharSink.entry)`.
import CVMHostABI
import Foundation
import Synchronization

enum CharSink {
    static let moduleName = "plugin-tests-char-sink"
    static let entry: VMHPluginEntry = { registrar, _ in
        guard let registrar, let register = registrar.pointee.registerDriver else { return VMH_ERR_INVALID_PARAMETER }
        return register(registrar, charSinkRegistration)
    }

    private static let store = Mutex<[String: [UInt8]]>([:])

    /// Bytes received by sinks with setting `tag: <tag>`.
    static func received(_ tag: String) -> [UInt8] {
        store.withLock { $0[tag] ?? [] }
    }

    static func append(_ bytes: UnsafeRawBufferPointer, tag: String) {
        store.withLock { $0[tag, default: []].append(contentsOf: bytes) }
    }

    /// Number of flush calls per tag.
    private static let flushes = Mutex<[String: Int]>([:])
    static func flushCount(_ tag: String) -> Int { flushes.withLock { $0[tag] ?? 0 } }
    static func noteFlush(tag: String) { flushes.withLock { $0[tag, default: 0] += 1 } }
}

/// Per-instance state: the tag and the connector (context points back here).
private final class CharSinkInstance {
    let tag: String
    let connector: UnsafeMutablePointer<VMHCharConnector>

    init(tag: String) {
        self.tag = tag
        connector = .allocate(capacity: 1)
        connector.initialize(to: VMHCharConnector(context: nil, write: { connector, buf, size in
            guard let context = connector?.pointee.context else { return Int64(VMH_ERR_INVALID_PARAMETER) }
            let sink = Unmanaged<CharSinkInstance>.fromOpaque(context).takeUnretainedValue()
            CharSink.append(UnsafeRawBufferPointer(start: buf, count: size), tag: sink.tag)
            return Int64(size)
        }, flush: { connector in
            guard let context = connector?.pointee.context else { return VMH_ERR_INVALID_PARAMETER }
            CharSink.noteFlush(tag: Unmanaged<CharSinkInstance>.fromOpaque(context).takeUnretainedValue().tag)
            return VMH_OK
        }))
        connector.pointee.context = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        connector.deinitialize(count: 1)
        connector.deallocate()
    }
}

private func sinkInstance(_ ins: UnsafeMutablePointer<VMHDrvIns>?) -> CharSinkInstance? {
    guard let slot = ins?.pointee.data?.load(as: UnsafeMutableRawPointer?.self) else { return nil }
    return Unmanaged<CharSinkInstance>.fromOpaque(slot).takeUnretainedValue()
}

nonisolated(unsafe) private let charSinkRegistration: UnsafeMutablePointer<VMHDriverReg> = {
    var reg = VMHDriverReg()
    reg.version = miniVersion(0xa020, 1, 0)
    reg.hlpVersion = miniVersion(0xa022, 1, 0)
    withUnsafeMutableBytes(of: &reg.name) { bytes in
        for (i, b) in "CharSink".utf8.enumerated() { bytes[i] = b }
    }
    reg.maxInstances = 16
    reg.instanceSize = UInt32(MemoryLayout<UnsafeRawPointer>.size)
    reg.construct = { ins, _ in
        guard let ins, let data = ins.pointee.data, let hlp = ins.pointee.hlp else { return VMH_ERR_INVALID_PARAMETER }
        var buffer = [CChar](repeating: 0, count: 128)
        var tag = ""
        if hlp.pointee.cfgQueryString(ins, "tag", &buffer, buffer.count) == VMH_OK {
            tag = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        data.storeBytes(of: Unmanaged.passRetained(CharSinkInstance(tag: tag)).toOpaque(),
                        as: UnsafeMutableRawPointer?.self)
        return VMH_OK
    }
    reg.destruct = { ins in
        guard let data = ins?.pointee.data, let slot = data.load(as: UnsafeMutableRawPointer?.self) else { return }
        Unmanaged<CharSinkInstance>.fromOpaque(slot).release()
        data.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
    }
    reg.queryInterface = { ins, iid in
        guard let iid, strcmp(iid, VMH_IID_CHAR_CONNECTOR) == 0, let sink = sinkInstance(ins) else { return nil }
        return UnsafeMutableRawPointer(sink.connector)
    }
    reg.versionEnd = reg.version
    let pointer = UnsafeMutablePointer<VMHDriverReg>.allocate(capacity: 1)
    pointer.initialize(to: reg)
    return pointer
}()
