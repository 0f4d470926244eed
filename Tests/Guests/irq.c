/*
 * irq: end-to-end check of a device interrupt, using the Scratchpad IRQ register (port 0x51c: write v →
 * setIrq(irq, v & 1)).  Ring 0 routes IOAPIC pin `irq` (edge, active high, fixed, physical APIC 0) to vector
 * 0x20 + irq and enables the LAPIC; the handler (ring 0) counts and sends EOI.  Ring 3 (entered with IF=1)
 * raises and lowers the line 3 times and expects exactly one interrupt per
 * rising edge.  Prints `irq: PASS` (DebugExit 0) or `irq: FAIL <what> got=<x> want=<y>` (DebugExit 1).
 *   irq=N          (default 5) the Scratchpad's `irq` setting (ISA IRQ = IOAPIC pin), 0..23
 *   source=serial  use COM1's THR-empty interrupt instead (raise: IER=0x02, lower: IER=0x00) with irq=4;
 *                  this is how the guest side is checked under QEMU, which has no Scratchpad.
 */
#include "guest.h"

#define IOAPIC_BASE   0xfec00000
#define LAPIC_SVR     0x0f0
#define LAPIC_LVT0    0x350
#define P_IRQ         (SCRATCH_PORT + 12)
#define WAIT_SPINS    200000000ULL   /* ~0.1-0.2 s of native ring-3 spinning */

volatile u32 irq_count;
void irq_handler(void);

__asm__(
    "    .text\n"
    "    .globl irq_handler\n"
    "irq_handler:\n"
    "    pushq %rax\n"
    "    incl irq_count(%rip)\n"
    "    movl $" "0xfee000b0" ", %eax\n"    /* LAPIC EOI */
    "    movl $0, (%rax)\n"
    "    popq %rax\n"
    "    iretq\n");

static void ioapic_write(u32 index, u32 value)
{
    mmio_write32(IOAPIC_BASE, index);
    mmio_write32(IOAPIC_BASE + 0x10, value);
}

static unsigned irq_line(void)
{
    u64 n = arg_u64("irq", 5);
    return n > 23 ? 5 : (unsigned)n;
}

void guest_kernel_init(void)
{
    unsigned pin = irq_line();
    user_rflags |= 0x200;                               /* IF=1 in ring 3 */
    idt_set_gate(0x20 + pin, irq_handler);
    mmio_write32(LAPIC_BASE + LAPIC_LVT0, 0x10000);     /* mask LINT0 (the 8259s are masked too) */
    mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x1ff);        /* software-enable the LAPIC */
    ioapic_write(0x10 + 2 * pin + 1, 0);                /* destination: APIC id 0 */
    ioapic_write(0x10 + 2 * pin, 0x20 + pin);           /* fixed, physical, active high, edge, unmasked */
}

static int use_serial;

static void set_line(int level)
{
    if (use_serial)
        outb(COM1_PORT + 1, level ? 0x02 : 0x00);
    else
        outl(P_IRQ, (u32)level);
}

static int check(const char *what, u64 got, u64 want)
{
    if (got == want)
        return 1;
    com1_puts("irq: FAIL ");
    com1_puts(what);
    com1_puts(" got=");
    com1_puthex(got);
    com1_puts(" want=");
    com1_puthex(want);
    com1_putc('\n');
    return 0;
}

static u32 wait_for_count(u32 want)
{
    for (u64 i = 0; i < WAIT_SPINS && irq_count < want; i++)
        cpu_relax();
    return irq_count;
}

int guest_main(unsigned cpu)
{
    if (cpu != 0)
        for (;;)
            cpu_relax();
    use_serial = arg_is("source", "serial");
    if (!check("before-raise", irq_count, 0))
        return 1;
    for (u32 i = 1; i <= 3; i++) {
        set_line(1);
        if (!check("after-raise", wait_for_count(i), i))
            return 1;
        set_line(0);
    }
    for (u64 i = 0; i < WAIT_SPINS / 8; i++)
        cpu_relax();
    if (!check("after-lower", irq_count, 3))
        return 1;
    com1_puts("irq: PASS\n");
    return 0;
}
