import CKVM

extension KVMVCPU {
    /// A multi-line register dump for a guru-meditation log: general registers, segments, control registers,
    /// descriptor tables, and the MP state. Never throws: a register set KVM refuses to give is named instead.
    public func registerDump() -> String {
        func hex(_ v: UInt64, _ width: Int = 16) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var lines: [String] = ["vCPU \(id):"]
        do {
            let r = try registers()
            lines.append("  rax=\(hex(r.rax)) rbx=\(hex(r.rbx)) rcx=\(hex(r.rcx)) rdx=\(hex(r.rdx))")
            lines.append("  rsi=\(hex(r.rsi)) rdi=\(hex(r.rdi)) rbp=\(hex(r.rbp)) rsp=\(hex(r.rsp))")
            lines.append("  r8 =\(hex(r.r8)) r9 =\(hex(r.r9)) r10=\(hex(r.r10)) r11=\(hex(r.r11))")
            lines.append("  r12=\(hex(r.r12)) r13=\(hex(r.r13)) r14=\(hex(r.r14)) r15=\(hex(r.r15))")
            lines.append("  rip=\(hex(r.rip)) rflags=\(hex(r.rflags, 8))")
        } catch {
            lines.append("  general registers unavailable: \(error)")
        }
        do {
            let s = try specialRegisters()
            func seg(_ name: String, _ g: kvm_segment) -> String {
                "  \(name)=\(hex(UInt64(g.selector), 4)) base=\(hex(g.base)) limit=\(hex(UInt64(g.limit), 8)) "
                    + "type=\(g.type) dpl=\(g.dpl) p=\(g.present) l=\(g.l) db=\(g.db) g=\(g.g) s=\(g.s)"
                    + (g.unusable != 0 ? " unusable" : "")
            }
            lines.append(seg("cs", s.cs))
            lines.append(seg("ss", s.ss))
            lines.append(seg("ds", s.ds))
            lines.append(seg("es", s.es))
            lines.append(seg("fs", s.fs))
            lines.append(seg("gs", s.gs))
            lines.append(seg("tr", s.tr))
            lines.append(seg("ldt", s.ldt))
            lines.append("  gdt base=\(hex(s.gdt.base)) limit=\(hex(UInt64(s.gdt.limit), 4))"
                + "  idt base=\(hex(s.idt.base)) limit=\(hex(UInt64(s.idt.limit), 4))")
            lines.append("  cr0=\(hex(s.cr0)) cr2=\(hex(s.cr2)) cr3=\(hex(s.cr3)) cr4=\(hex(s.cr4)) cr8=\(hex(s.cr8))")
            lines.append("  efer=\(hex(s.efer)) apic_base=\(hex(s.apic_base))")
        } catch {
            lines.append("  special registers unavailable: \(error)")
        }
        if let mp = try? mpState() { lines.append("  mp_state=\(mp)") }
        return lines.joined(separator: "\n")
    }
}
