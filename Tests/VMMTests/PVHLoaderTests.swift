import ELF
import Foundation
import Testing
import VMM

/// The PVH loader against the real test guests and hand-broken copies of them.
@Suite(.serialized) struct PVHLoaderTests {
    @Test func loadsHelloWithStartInfo() throws {
        let path = try TestGuests.path("hello")
        let memory = try GuestMemory(size: 32 << 20)
        let info = try PVHLoader(memory: memory).load(kernelPath: path, commandLine: "cpus=1 mode=pio")
        let elf = try ELFFile(path: path)
        let note = try #require(elf.notes(owner: "Xen", type: 18).first)
        #expect(info.entryPoint == note.descUInt32())
        // hvm_start_info
        let si = info.startInfoAddress
        #expect(try memory.load(UInt32.self, at: si) == 0x336e_c578)
        #expect(try memory.load(UInt32.self, at: si + 4) == 1)
        #expect(try memory.load(UInt64.self, at: si + 24) == info.commandLineAddress)
        #expect(memory.cString(at: info.commandLineAddress, maxLength: 64) == "cpus=1 mode=pio")
        #expect(try memory.load(UInt64.self, at: si + 40) == info.memoryMapAddress)
        #expect(try memory.load(UInt32.self, at: si + 48) == UInt32(info.memoryMap.count))
        #expect(try memory.load(UInt32.self, at: info.memoryMapAddress + 24 + 16) == 2)  // legacy hole reserved
        // Segments copied at their physical addresses.
        for s in elf.loadSegments where s.fileSize > 0 {
            let bytes = Array(try elf.bytes(of: s))
            #expect(try memory.bytes(at: s.physicalAddress, count: bytes.count) == bytes)
        }
    }

    @Test func refusesAFileThatIsNotELF() throws {
        let path = try TestGuests.temporaryFile("not-elf", contents: Array("just text\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let memory = try GuestMemory(size: 16 << 20)
        do {
            _ = try PVHLoader(memory: memory).load(kernelPath: path, commandLine: "")
            Issue.record("a text file was loaded")
        } catch {
            guard case .invalidELF = error else { Issue.record("unexpected \(error)"); return }
            #expect(error.description.contains(path))
        }
    }

    @Test func refusesAKernelWithoutTheEntryNote() throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: TestGuests.path("hello"))))
        // Rename the note owner "Xen" → "Xem" wherever it appears as a note name.
        let pattern: [UInt8] = [4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 0x58, 0x65, 0x6e, 0]
        var patched = 0
        for i in 0..<(bytes.count - pattern.count) where Array(bytes[i..<(i + pattern.count)]) == pattern {
            bytes[i + 14] = 0x6d
            patched += 1
        }
        #expect(patched >= 1)
        let path = try TestGuests.temporaryFile("no-note.elf", contents: bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let memory = try GuestMemory(size: 16 << 20)
        #expect(throws: PVHLoadError.noEntryNote(path: path)) {
            _ = try PVHLoader(memory: memory).load(kernelPath: path, commandLine: "")
        }
        let message = PVHLoadError.noEntryNote(path: path).description
        #expect(message.contains(path) && message.contains("XEN_ELFNOTE_PHYS32_ENTRY"))
    }

    @Test func refusesASegmentOutsideRAM() throws {
        let path = try TestGuests.path("hello")
        let elf = try ELFFile(path: path)
        let segment = try #require(elf.loadSegments.first)
        // 1 MiB of RAM ends exactly where the image (linked at 1 MiB) starts.
        let memory = try GuestMemory(size: 1 << 20)
        do {
            _ = try PVHLoader(memory: memory).load(kernelPath: path, commandLine: "")
            Issue.record("a kernel at 1 MiB loaded into 1 MiB of RAM")
        } catch {
            #expect(error == .segmentOutsideRAM(path: path, index: segment.index, start: segment.physicalAddress,
                                                 end: segment.physicalAddress + segment.memorySize))
            #expect(error.description.contains(path))
            #expect(error.description.contains("outside guest RAM"))
        }
    }

    @Test func refusesAnOverlongCommandLine() throws {
        let path = try TestGuests.path("hello")
        let memory = try GuestMemory(size: 16 << 20)
        let line = String(repeating: "x", count: 5000)
        #expect(throws: PVHLoadError.commandLineTooLong(path: path, length: 5000, maximum: 4095)) {
            _ = try PVHLoader(memory: memory).load(kernelPath: path, commandLine: line)
        }
    }
}
