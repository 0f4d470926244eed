/*
 * Common startup of the VMHost test guests (PVH boot ABI).
 *
 * Entered in 32-bit protected mode, paging off, flat segments, %ebx = hvm_start_info.
 * Ring 0 is emulated by kvm_pvm (~1M instr/s), so this file only does what needs ring 0:
 * long mode with static identity page tables (4 GiB, 2 MiB pages, user-accessible),
 * GDT/TSS/IDT, the optional guest_kernel_init() hook, then iretq into ring 3 (IOPL=3)
 * where guest_main(cpu) runs natively.  The return value of guest_main is written to DebugExit.
 * Application processors arrive through the real-mode trampoline (copied to AP_TRAMPOLINE_ADDR)
 * and take their CPU index from their LAPIC id.
 */
#include "layout.h"

/* ---- PVH ELF note: XEN_ELFNOTE_PHYS32_ENTRY (type 18, owner "Xen") ---- */
        .section .note.Xen, "a", @note
        .balign 4
        .long   4               /* namesz ("Xen\0") */
        .long   4               /* descsz */
        .long   18              /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .long   pvh_start32
        .balign 4

/* ---- 32-bit PVH entry (BSP) ---- */
        .section .text.boot, "ax"
        .code32
        .globl  pvh_start32
pvh_start32:
        cli
        cld
        movl    %ebx, boot_start_info
        lgdtl   gdt_desc
        movl    $SEL_KDATA, %eax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    %cr4, %eax
        orl     $0x20, %eax             /* CR4.PAE */
        movl    %eax, %cr4
        movl    $pml4, %eax
        movl    %eax, %cr3
        movl    $0xc0000080, %ecx       /* EFER.LME */
        rdmsr
        orl     $0x100, %eax
        wrmsr
        movl    %cr0, %eax
        orl     $0x80000001, %eax       /* CR0.PG | CR0.PE */
        movl    %eax, %cr0
        ljmpl   $SEL_KCODE64, $bsp_long_entry

/* ---- 64-bit ring 0 ---- */
        .code64
bsp_long_entry:
        xorl    %edi, %edi              /* cpu 0 */
        jmp     cpu_entry64

        .globl  ap_long_entry
ap_long_entry:
        movl    $LAPIC_BASE + 0x20, %eax  /* LAPIC ID register */
        movl    (%rax), %edi
        shrl    $24, %edi

cpu_entry64:                            /* %edi = cpu index */
        movl    $SEL_KDATA, %eax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        xorl    %eax, %eax
        movw    %ax, %fs
        movw    %ax, %gs
        cmpl    $GUEST_MAX_CPUS, %edi
        jae     halt_forever
        leal    1(%rdi), %eax
        shll    $KSTACK_SHIFT, %eax
        addq    $kstacks, %rax
        movq    %rax, %rsp
        pushq   %rdi
        pushq   %rdi                    /* keep %rsp 16-byte aligned for the call */
        call    cpu_init                /* TSS, IDT; BSP: cmdline copy + guest_kernel_init() */
        popq    %rdi
        popq    %rdi
        leal    1(%rdi), %eax
        shll    $USTACK_SHIFT, %eax
        addq    $ustacks, %rax
        pushq   $(SEL_UDATA | 3)        /* ss */
        pushq   %rax                    /* rsp */
        pushq   user_rflags(%rip)       /* rflags: IOPL=3, IF=0 unless the guest changed it */
        pushq   $(SEL_UCODE64 | 3)      /* cs */
        pushq   $user_entry             /* rip */
        iretq

        .globl  halt_forever
halt_forever:
        cli
1:      hlt
        jmp     1b

/* ---- ring 3 ---- */
user_entry:                             /* %rdi = cpu index, %rsp 16-byte aligned */
        call    guest_main
        movw    $DEBUG_EXIT_PORT, %dx
        outb    %al, %dx
1:      pause
        jmp     1b

/* ---- exception stubs 0..31: push (error code), vector; report on COM1, exit via DebugExit ---- */
        .macro  ISR v
isr\v:
        .if (\v == 8) || (\v == 10) || (\v == 11) || (\v == 12) || (\v == 13) || (\v == 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
        .else
        pushq   $0
        .endif
        pushq   $\v
        jmp     isr_common
        .endm

        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        ISR \v
        .endr

isr_common:
        movq    %rsp, %rdi              /* struct exception_frame * */
        andq    $-16, %rsp
        call    exception_report        /* does not return */
        jmp     halt_forever

        .section .rodata
        .balign 8
        .globl  isr_table
isr_table:
        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad   isr\v
        .endr

/* ---- AP trampoline: copied to AP_TRAMPOLINE_ADDR, entered in real mode at CS:IP = (vector<<8):0 ---- */
#define TR(sym) (AP_TRAMPOLINE_ADDR + ((sym) - ap_trampoline_start))
        .section .rodata.trampoline, "a"
        .globl  ap_trampoline_start, ap_trampoline_end
        .code16
ap_trampoline_start:
        cli
        cld
        xorw    %ax, %ax
        movw    %ax, %ds
        lgdtl   TR(tr_gdt_desc)
        movl    %cr0, %eax
        orl     $1, %eax
        movl    %eax, %cr0
        ljmpl   $SEL_KCODE32, $TR(tr32)
        .code32
tr32:
        movl    $SEL_KDATA, %eax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    %cr4, %eax
        orl     $0x20, %eax
        movl    %eax, %cr4
        movl    $pml4, %eax
        movl    %eax, %cr3
        movl    $0xc0000080, %ecx
        rdmsr
        orl     $0x100, %eax
        wrmsr
        movl    %cr0, %eax
        orl     $0x80000001, %eax
        movl    %eax, %cr0
        ljmpl   $SEL_KCODE64, $ap_long_entry
        .balign 8
tr_gdt_desc:
        .word   gdt_end - gdt - 1
        .long   gdt
        .long   0
ap_trampoline_end:
        .code64

/* ---- data: GDT, page tables, stacks ---- */
        .section .data
        .balign 16
        .globl  gdt
gdt:
        .quad   0
        .quad   0x00af9a000000ffff      /* 0x08 kernel code, 64-bit */
        .quad   0x00cf92000000ffff      /* 0x10 kernel data */
        .quad   0x00cff2000000ffff      /* 0x18 user data */
        .quad   0x00affa000000ffff      /* 0x20 user code, 64-bit */
        .quad   0x00cf9a000000ffff      /* 0x28 kernel code, 32-bit (AP trampoline) */
        .fill   2 * GUEST_MAX_CPUS, 8, 0 /* 0x30.. one 16-byte TSS descriptor per CPU */
gdt_end:
        .balign 8
gdt_desc:
        .word   gdt_end - gdt - 1
        .quad   gdt

        .globl  boot_start_info
        .balign 8
boot_start_info:
        .quad   0

        .globl  user_rflags
user_rflags:
        .quad   0x3002

        /* Identity map of the first 4 GiB with 2 MiB pages: P | RW | US | PS (ring 3 may touch all). */
        .section .data.pagetables, "aw"
        .balign 4096
pml4:
        .quad   pdpt + 0x7
        .fill   511, 8, 0
pdpt:
        .quad   pds + 0x0007
        .quad   pds + 0x1007
        .quad   pds + 0x2007
        .quad   pds + 0x3007
        .fill   508, 8, 0
pds:
        .set    addr, 0
        .rept   2048
        .quad   addr + 0x87
        .set    addr, addr + 0x200000
        .endr

        .section .bss
        .balign 4096
        .globl  kstacks, ustacks
kstacks:
        .skip   GUEST_MAX_CPUS << KSTACK_SHIFT
ustacks:
        .skip   GUEST_MAX_CPUS << USTACK_SHIFT

        .section .note.GNU-stack, "", @progbits
