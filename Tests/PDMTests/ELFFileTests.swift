import ELF
import Foundation
import Testing

/// ELFFile on real files: a system executable, a plugin compiled from C, the plugin products, and broken files.
@Suite struct ELFFileTests {
    @Test func readsSystemExecutable() throws {
        let file = try ELFFile(path: "/bin/true")
        #expect(file.elfClass == .elf64)
        #expect(file.dataEncoding == .littleEndian)
        #expect(file.machine == .x86_64)
        #expect(file.type == .sharedObject || file.type == .executable)
        #expect(file.entry != 0)
        let loads = file.loadSegments
        #expect(!loads.isEmpty)
        #expect(loads.allSatisfy { $0.memorySize >= $0.fileSize })
        #expect(file.programHeaders.contains { $0.type == .interpreter })
        // The first PT_LOAD of a normally linked executable maps the ELF header itself.
        let first = try #require(loads.first)
        #expect(first.offset == 0)
        #expect(Array(try file.bytes(of: first).prefix(4)) == [0x7f, 0x45, 0x4c, 0x46])
        let text = try #require(file.section(named: ".text"))
        #expect(text.type == .programBits)
        #expect(text.flags.contains(.execute) && text.flags.contains(.alloc))
        // Debian links with a build id.
        let buildID = try #require(file.notes(owner: "GNU", type: 3).first)
        #expect(buildID.desc.count == 20)
        // An executable imports libc functions: undefined dynamic symbols.
        let imports = file.dynamicSymbols.filter { !$0.isDefined }
        #expect(imports.contains { $0.name.hasPrefix("__libc_start_main") })
        #expect(imports.allSatisfy { $0.sectionIndex == 0 })
    }

    @Test func readsCompiledPluginSymbolsAndABINote() throws {
        let dir = try TestFixtures.makeTemporaryDirectory("elf")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try TestFixtures.compilePlugin("good_plugin.c", into: dir, as: "libFixture.so").path
        let file = try ELFFile(path: path)
        #expect(file.elfClass == .elf64 && file.machine == .x86_64 && file.type == .sharedObject)
        let entry = try #require(file.dynamicSymbol(named: "vmhost_plugin_register"))
        #expect(entry.isDefined)
        #expect(entry.type == .function)
        #expect(entry.binding == .global)
        #expect(entry.size > 0)
        // The static registration structs stay local: not in .dynsym.
        #expect(file.dynamicSymbol(named: "fixtureDevice") == nil)
        let note = try #require(file.notes(owner: "VMHost", type: 0x564d_0001).first)
        #expect(note.sectionName == ".note.vmhost")
        #expect(note.desc.count == 32)
        #expect(note.descUInt32(at: 0) == 0x564d_0100)  // VMH_ABI_VERSION 1.0
        #expect(note.descUInt32(at: 16) == 0xa012_0102)  // VMH_DEVHLP_VERSION 1.2
        #expect(note.descUInt32(at: 32) == nil)
        #expect(file.section(named: ".note.vmhost")?.type == .note)
        // A note reached through both its section and a PT_NOTE segment is listed once.
        #expect(file.notes.count == Set(file.notes.map(\.fileOffset)).count)
    }

    /// A static executable shaped like a PVH guest: what the PVH loader needs (PT_LOAD bytes, the Xen note).
    @Test func readsPVHShapedExecutable() throws {
        let dir = try TestFixtures.makeTemporaryDirectory("elf")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try TestFixtures.compile("pvh_note.c", into: dir, as: "guest.elf", options: [
            "-O1", "-ffreestanding", "-fno-pic", "-no-pie", "-nostdlib", "-static", "-Wl,--build-id=none",
            "-Wl,-Ttext-segment=0x100000",
        ]).path
        let file = try ELFFile(path: path)
        #expect(file.type == .executable && file.elfClass == .elf64 && file.machine == .x86_64)
        let start = try #require(file.sections.first { $0.name == ".text" })
        #expect(file.entry >= 0x100000 && file.entry < start.address + start.size)
        let note = try #require(file.notes(owner: "Xen", type: 18).first)
        #expect(note.desc.count == 4)
        #expect(note.descUInt32() == UInt32(file.entry))
        #expect(note.sectionName == ".note.Xen")
        #expect(file.programHeaders.contains { $0.type == .note && $0.offset == note.fileOffset })
        // The PT_LOAD holding the entry point has the code bytes at entry - p_vaddr.
        let segment = try #require(file.loadSegments.first {
            file.entry >= $0.virtualAddress && file.entry < $0.virtualAddress + $0.fileSize
        })
        #expect(segment.flags.contains(.execute) && segment.physicalAddress >= 0x100000)
        let code = try file.bytes(of: segment)
        #expect(UInt64(code.count) == segment.fileSize)
        let textBytes = try file.bytes(of: start)
        let textInSegment = Int(start.address - segment.virtualAddress)
        #expect(Array(code.dropFirst(textInSegment).prefix(textBytes.count)) == Array(textBytes))
    }

    @Test func readsPluginProducts() throws {
        let products = TestFixtures.pluginProducts()
        for product in products {
            let file = try ELFFile(path: product.path)
            #expect(file.elfClass == .elf64, "\(product.lastPathComponent)")
            #expect(file.type == .sharedObject, "\(product.lastPathComponent)")
            #expect(file.machine == .x86_64, "\(product.lastPathComponent)")
            #expect(!file.dynamicSymbols.isEmpty, "\(product.lastPathComponent)")
        }
    }

    @Test func refusesMissingFileAndDirectory() {
        #expect(throws: ELFError.notFound(path: "/nonexistent/libNope.so")) {
            try ELFFile(path: "/nonexistent/libNope.so")
        }
        do {
            _ = try ELFFile(path: "/tmp")
            Issue.record("a directory parsed as ELF")
        } catch {
            #expect(error == .unreadable(path: "/tmp", reason: "not a regular file"))
            #expect(error.description == "/tmp: cannot read: not a regular file")
        }
    }

    @Test func refusesTextAndEmptyFiles() throws {
        let dir = try TestFixtures.makeTemporaryDirectory("elf")
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = try TestFixtures.write(Array("just some text\n".utf8), into: dir, as: "libText.so").path
        #expect(throws: ELFError.notELF(path: text)) { try ELFFile(path: text) }
        let empty = try TestFixtures.write([], into: dir, as: "empty").path
        #expect(throws: ELFError.notELF(path: empty)) { try ELFFile(path: empty) }
        #expect(ELFError.notELF(path: text).description == "\(text): not an ELF file")
    }

    @Test func refusesTruncatedFiles() throws {
        let dir = try TestFixtures.makeTemporaryDirectory("elf")
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/bin/true")))
        let header = try TestFixtures.write(Array(whole.prefix(40)), into: dir, as: "header").path
        #expect(throws: ELFError.truncated(path: header, what: "ELF header (40 of 64 bytes)")) {
            try ELFFile(path: header)
        }
        let half = try TestFixtures.write(Array(whole.prefix(whole.count / 2)), into: dir, as: "half").path
        do {
            _ = try ELFFile(path: half)
            Issue.record("half a file parsed")
        } catch {
            guard case .truncated(let path, let what) = error else {
                Issue.record("expected .truncated, got \(error)")
                return
            }
            #expect(path == half)
            #expect(what.contains("ends beyond the file (\(whole.count / 2) bytes)"))
        }
    }

    @Test func readsELF32Header() throws {
        let file = try ELFFile(contents: TestFixtures.minimalELF32(), path: "elf32")
        #expect(file.elfClass == .elf32)
        #expect(file.machine == .i386)
        #expect(file.type == .sharedObject)
        #expect(file.programHeaders.isEmpty && file.sections.isEmpty && file.dynamicSymbols.isEmpty)
    }

    @Test func rejectsBadIdentification() {
        var bytes = TestFixtures.minimalELF32()
        bytes[4] = 7
        #expect(throws: ELFError.malformed(path: "x", what: "unknown ELF class 7 (EI_CLASS)")) {
            try ELFFile(contents: bytes, path: "x")
        }
        bytes[4] = 1
        bytes[5] = 0
        #expect(throws: ELFError.malformed(path: "x", what: "unknown data encoding 0 (EI_DATA)")) {
            try ELFFile(contents: bytes, path: "x")
        }
    }

    @Test func bytesOutsideTheFileAreRefused() throws {
        let file = try ELFFile(path: "/bin/true")
        #expect(throws: ELFError.self) { try file.bytes(offset: file.fileSize - 2, count: 3) }
        #expect(throws: ELFError.self) { try file.bytes(offset: UInt64.max, count: 2) }
        #expect(try file.bytes(offset: file.fileSize, count: 0).isEmpty)
        #expect(try file.bytes(offset: 1, count: 3) == [0x45, 0x4c, 0x46])
    }

    /// Every single-byte corruption of the ELF header and the header tables, 1500 seeded random corruptions
    /// anywhere, and every truncation at 1/97 steps, of a real plugin either parse or throw: never a crash.
    @Test func survivesCorruption() throws {
        let dir = try TestFixtures.makeTemporaryDirectory("elf")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try TestFixtures.compilePlugin("good_plugin.c", into: dir, as: "libFixture.so").path
        let original = try ELFFile(path: path)
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        var positions = Array(0..<64)
        if let phoff = original.programHeaders.first.map({ _ in 64 }) {
            positions += Array(phoff..<min(phoff + 56 * original.programHeaders.count, bytes.count))
        }
        let sectionTable = Int(ELFByteReaderForTests.uint64(bytes, at: 0x28))
        positions += Array(sectionTable..<min(sectionTable + 64 * original.sections.count, bytes.count))
        var parsed = 0
        var refused = 0
        for position in positions {
            for value: UInt8 in [0x00, 0xff, bytes[position] ^ 0x80] {
                var copy = bytes
                copy[position] = value
                do {
                    _ = try ELFFile(contents: copy, path: "corrupt")
                    parsed += 1
                } catch {
                    #expect(error.path == "corrupt")
                    refused += 1
                }
            }
        }
        // Seeded random corruption anywhere in the file: 1 to 8 bytes replaced per copy.
        var corrupter = SeededCorrupter(seed: 0x9e37_79b9_7f4a_7c15)
        for _ in 0..<1500 {
            let copy = corrupter.corrupt(bytes)
            do {
                let file = try ELFFile(contents: copy, path: "random")
                // Whatever parsed must be usable without trapping.
                for segment in file.programHeaders { _ = try? file.bytes(of: segment) }
                for section in file.sections { _ = try? file.bytes(of: section) }
                parsed += 1
            } catch {
                #expect(error.path == "random")
                refused += 1
            }
        }
        for step in 0..<97 {
            let length = bytes.count * step / 97
            #expect(throws: ELFError.self) { try ELFFile(contents: Array(bytes.prefix(length)), path: "cut") }
        }
        #expect(parsed > 0 && refused > 0)
    }
}

/// ELFFile reads its file on demand (libelf with `pread`), so the file-backed path gets its own tests: it reads
/// only what inspection needs, survives corrupt files on disk, and reports a file that shrinks after opening.
@Suite struct ELFFileOnDiskTests {
    /// Bytes this thread has read through read/pread so far (`rchar` of /proc/thread-self/io).
    private func threadReadBytes() throws -> UInt64 {
        let text = try String(contentsOfFile: "/proc/thread-self/io", encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("rchar:") })
        return try #require(UInt64(line.dropFirst("rchar:".count).trimmingCharacters(in: .whitespaces)))
    }

    /// Parsing a plugin product (headers, notes, dynamic symbols) reads a small part of it, not the whole file
    /// (the old reader copied every byte, twice).
    @Test func inspectingAPluginReadsLittleOfIt() throws {
        let product = try #require(TestFixtures.pluginProducts().first { $0.lastPathComponent == "libSerial16550.so" })
        let size = try #require(FileManager.default.attributesOfItem(atPath: product.path)[.size] as? NSNumber).uint64Value
        let before = try threadReadBytes()
        let file = try ELFFile(path: product.path)
        let read = try threadReadBytes() - before
        #expect(!file.notes.isEmpty && !file.dynamicSymbols.isEmpty)
        #expect(read > 0)
        #expect(read < size / 4, "read \(read) of \(size) bytes to inspect \(product.lastPathComponent)")
    }

    /// The same kinds of damage as `ELFFileTests.survivesCorruption`, written to disk and parsed from the file:
    /// every byte of the ELF header, and seeded random corruption anywhere.
    @Test func survivesCorruptFilesOnDisk() throws {
        let dir = try TestFixtures.makeTemporaryDirectory("elf-disk")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try TestFixtures.compilePlugin("good_plugin.c", into: dir, as: "libFixture.so").path
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        let damaged = dir.appendingPathComponent("damaged.so").path
        var parsed = 0
        var refused = 0
        func check(_ copy: [UInt8]) throws {
            try Data(copy).write(to: URL(fileURLWithPath: damaged))
            do {
                let file = try ELFFile(path: damaged)
                for segment in file.programHeaders { _ = try? file.bytes(of: segment) }
                for section in file.sections { _ = try? file.bytes(of: section) }
                parsed += 1
            } catch {
                #expect(error.path == damaged)
                refused += 1
            }
        }
        for position in 0..<64 {
            for value: UInt8 in [0x00, 0xff, bytes[position] ^ 0x80] {
                var copy = bytes
                copy[position] = value
                try check(copy)
            }
        }
        var corrupter = SeededCorrupter(seed: 0x2545_f491_4f6c_dd1d)
        for _ in 0..<300 { try check(corrupter.corrupt(bytes)) }
        for step in 1..<17 {
            try Data(bytes.prefix(bytes.count * step / 17)).write(to: URL(fileURLWithPath: damaged))
            #expect(throws: ELFError.self) { try ELFFile(path: damaged) }
        }
        #expect(parsed > 0 && refused > 0)
    }

    /// A FIFO given as a plugin or kernel path is refused at once (opening it for reading would wait for a writer).
    @Test func aFIFOIsRefusedWithoutWaiting() throws {
        let dir = try TestFixtures.makeTemporaryDirectory("elf-fifo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("libFifo.so").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // Should the open block after all, a writer turns up after 5 s so the test fails instead of hanging.
        let unblock = Thread {
            Thread.sleep(forTimeInterval: 5)
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        unblock.start()
        let start = Date()
        #expect(throws: ELFError.unreadable(path: fifo, reason: "not a regular file")) { try ELFFile(path: fifo) }
        #expect(Date().timeIntervalSince(start) < 2)
    }

    /// A file cut short after it was parsed (a plugin rebuilt under a running host, a guest image overwritten)
    /// makes reading a segment throw `.unreadable`, naming the file: no crash, no stale bytes.
    @Test func fileShrinkingAfterOpeningIsAnError() throws {
        let dir = try TestFixtures.makeTemporaryDirectory("elf-shrink")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try TestFixtures.compilePlugin("good_plugin.c", into: dir, as: "libFixture.so").path
        let file = try ELFFile(path: path)
        let last = try #require(file.loadSegments.last { $0.fileSize > 0 })
        #expect(try file.bytes(of: last).count == Int(last.fileSize))
        #expect(truncate(path, off_t(last.offset)) == 0)
        #expect {
            _ = try file.bytes(of: last)
        } throws: { error in
            guard case let .unreadable(failedPath, reason) = error as? ELFError else { return false }
            return failedPath == path && reason.contains("changed after it was opened")
        }
    }
}

/// Reproducible damage for the corruption tests: a linear congruential generator replacing 1 to 8 random bytes.
struct SeededCorrupter {
    var seed: UInt64

    mutating func next() -> Int {
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(truncatingIfNeeded: seed >> 33)
    }

    mutating func corrupt(_ bytes: [UInt8]) -> [UInt8] {
        var copy = bytes
        for _ in 0..<(1 + next() % 8) { copy[next() % copy.count] = UInt8(truncatingIfNeeded: next()) }
        return copy
    }
}

/// Reading little-endian words in test code.
enum ELFByteReaderForTests {
    static func uint64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
}
