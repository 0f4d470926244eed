/*
 * io-exits: VM-exit rate loop for the benchmarks.
 *   mode=pio|mmio  (default pio)   pio: writes to the Scratchpad doorbell port 0x518;
 *                                  mmio: writes to the Scratchpad MMIO doorbell 0xd0000104
 *   count=N        (default 1000000; 0 = loop forever)
 *   ring=0|3       (default 3)     ring 0 runs the loop in guest_kernel_init (emulated by kvm_pvm)
 * After N doorbell writes: DebugExit value 0 (exit status 1).
 */
#include "guest.h"

#define DOORBELL_PORT (SCRATCH_PORT + 8)
#define DOORBELL_MMIO (SCRATCH_MMIO + 0x104)

/* 16 doorbell writes per iteration: keeps the loop overhead small in emulated ring 0. */
static void pio_doorbells(u64 n, int forever)
{
    while (forever || n >= 16) {
        __asm__ volatile(".rept 16\n\toutl %%eax, %%dx\n\t.endr" :: "a"(0), "d"(DOORBELL_PORT));
        n -= 16;
    }
    while (n--)
        outl(DOORBELL_PORT, 0);
}

static void mmio_doorbells(u64 n, int forever)
{
    while (forever || n >= 16) {
        __asm__ volatile(".rept 16\n\tmovl %%eax, (%%rdx)\n\t.endr" :: "a"(0), "d"(DOORBELL_MMIO) : "memory");
        n -= 16;
    }
    while (n--)
        mmio_write32(DOORBELL_MMIO, 0);
}

static void run(void)
{
    u64 count = arg_u64("count", 1000000);
    if (arg_is("mode", "mmio"))
        mmio_doorbells(count, count == 0);
    else
        pio_doorbells(count, count == 0);
    debug_exit(0);
}

void guest_kernel_init(void)
{
    if (arg_u64("ring", 3) == 0)
        run();
}

int guest_main(unsigned cpu)
{
    if (cpu == 0)
        run();
    for (;;)
        cpu_relax();
}
