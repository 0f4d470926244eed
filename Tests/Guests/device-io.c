/*
 * device-io: functional check of the Scratchpad device (ports 0x510.., MMIO 0xd0000000..), from ring 3.
 * Prints `device-io: PASS` (DebugExit 0, exit status 1) or `device-io: FAIL <what> got=<x> want=<y>`
 * (DebugExit 1, exit status 3) on COM1.  No cmdline keys.
 */
#include "guest.h"

#define P_LATCH    (SCRATCH_PORT + 0)
#define P_COUNT    (SCRATCH_PORT + 4)
#define P_DOORBELL (SCRATCH_PORT + 8)
#define M_COUNT    (SCRATCH_MMIO + 0x100)
#define M_DOORBELL (SCRATCH_MMIO + 0x104)

static int check(const char *what, u64 got, u64 want)
{
    if (got == want)
        return 1;
    com1_puts("device-io: FAIL ");
    com1_puts(what);
    com1_puts(" got=");
    com1_puthex(got);
    com1_puts(" want=");
    com1_puthex(want);
    com1_putc('\n');
    return 0;
}

static int run(void)
{
    /* Port data latch: 32-bit write/read, 1- and 2-byte reads give the low bytes. */
    outl(P_LATCH, 0x12345678);
    if (!check("latch32", inl(P_LATCH), 0x12345678)) return 0;
    if (!check("latch32-read16", inw(P_LATCH), 0x5678)) return 0;
    if (!check("latch32-read8", inb(P_LATCH), 0x78)) return 0;
    outw(P_LATCH, 0xabcd);
    if (!check("latch16", inw(P_LATCH), 0xabcd)) return 0;
    outb(P_LATCH, 0x5a);
    if (!check("latch8", inb(P_LATCH), 0x5a)) return 0;
    outl(P_LATCH, 0xfedcba98);
    if (!check("latch32-again", inl(P_LATCH), 0xfedcba98)) return 0;

    /* Port write counter: a write resets it; every later port write (latch, doorbell, IRQ-less) counts. */
    outl(P_COUNT, 0);
    if (!check("port-counter-reset", inl(P_COUNT), 0)) return 0;
    outl(P_LATCH, 1);
    outw(P_LATCH, 2);
    outb(P_LATCH, 3);
    outl(P_DOORBELL, 0);
    outl(P_DOORBELL, 0);
    if (!check("port-counter", inl(P_COUNT), 5)) return 0;
    (void)inl(P_LATCH);
    if (!check("port-counter-after-read", inl(P_COUNT), 5)) return 0;

    /* MMIO: 64 scratch registers, write counter, doorbell, unused offsets read 0. */
    u32 c0 = mmio_read32(M_COUNT);
    for (u32 i = 0; i < 64; i++)
        mmio_write32(SCRATCH_MMIO + 4 * i, 0xa5000000u | (i << 8) | (i ^ 0x3c));
    for (u32 i = 0; i < 64; i++)
        if (!check("mmio-scratch", mmio_read32(SCRATCH_MMIO + 4 * i), 0xa5000000u | (i << 8) | (i ^ 0x3c)))
            return 0;
    mmio_write32(M_DOORBELL, 0);
    mmio_write32(M_DOORBELL, 0);
    if (!check("mmio-counter", mmio_read32(M_COUNT) - c0, 66)) return 0;
    if (!check("mmio-unused", mmio_read32(SCRATCH_MMIO + 0x800), 0)) return 0;
    mmio_write32(SCRATCH_MMIO + 0x10, 0x11223344);
    if (!check("mmio-rewrite", mmio_read32(SCRATCH_MMIO + 0x10), 0x11223344)) return 0;
    return 1;
}

int guest_main(unsigned cpu)
{
    if (cpu != 0)
        for (;;)
            cpu_relax();
    if (!run())
        return 1;
    com1_puts("device-io: PASS\n");
    return 0;
}
