/* Shared constants of the VMHost test guests (included by start.S and the C files). */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define GUEST_MAX_CPUS      16

/* GDT selectors (see gdt in start.S). */
#define SEL_KCODE64         0x08
#define SEL_KDATA           0x10
#define SEL_UDATA           0x18
#define SEL_UCODE64         0x20
#define SEL_KCODE32         0x28
#define SEL_TSS0            0x30    /* + 16 * cpu */

#define KSTACK_SHIFT        13      /* 8 KiB ring-0 stack per CPU */
#define USTACK_SHIFT        14      /* 16 KiB ring-3 stack per CPU */

/* The AP trampoline is copied here; the SIPI vector is its page number. */
#define AP_TRAMPOLINE_ADDR  0x8000
#define AP_SIPI_VECTOR      (AP_TRAMPOLINE_ADDR >> 12)

#define LAPIC_BASE          0xfee00000

/* Host conventions (DEVICE-SPECS.md). */
#define COM1_PORT           0x3f8
#define DEBUG_EXIT_PORT     0x501
#define SCRATCH_PORT        0x510
#define SCRATCH_MMIO        0xd0000000
#define STATUS_PAGE         0x10000
#define STATUS_MAGIC_OFF    0x800
#define STATUS_RING3_OFF    0x804
#define STATUS_MAGIC        0x474d4856  /* "VHMG" */

/* DebugExit value written when an unexpected exception reaches the IDT: 0x40 + vector. */
#define EXIT_EXCEPTION_BASE 0x40

#endif
