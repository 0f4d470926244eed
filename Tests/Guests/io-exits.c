/*
 * io-exits: VM-exit rate loop for the benchmarks.
 *   mode=pio|mmio  (default pio)   pio: writes to the Scratchpad doorbell port 0x518;
 *                                  mmio: writes to the Scratchpad MMIO doorbell 0xd0000104
 *   count=N        (default 1000000; 0 = loop forever)
 *   ring=0|3       (default 3)     ring 0 runs the loop in guest_kernel_init (emulated by kvm_pvm)
 *   port=P         (default 0x518) doorbell port for mode=pio (QEMU: 0x510-0x51b is fw_cfg, use e.g. 0x520)
 *   addr=A         (default 0xd0000104) doorbell address for mode=mmio
 * After N doorbell writes: DebugExit value 0 (exit status 1).
 */
#include "guest.h"

#define DOORBELL_PORT (SCRATCH_PORT + 8)
#define DOORBELL_MMIO (SCRATCH_MMIO + 0x104)

static u16 port;
static u64 addr;

/* 16 doorbell writes per iteration: keeps the loop overhead small in emulated ring 0. */
static void pio_doorbells(u64 n, int forever)
{
    while (forever || n >= 16) {
        __asm__ volatile(".rept 16\n\toutl %%eax, %%dx\n\t.endr" :: "a"(0), "d"(port));
        n -= 16;
    }
    while (n--)
        outl(port, 0);
}

static void mmio_doorbells(u64 n, int forever)
{
    while (forever || n >= 16) {
        __asm__ volatile(".rept 16\n\tmovl %%eax, (%%rdx)\n\t.endr" :: "a"(0), "d"(addr) : "memory");
        n -= 16;
    }
    while (n--)
        mmio_write32(addr, 0);
}

static void run(void)
{
    u64 count = arg_u64("count", 1000000);
    port = (u16)arg_u64("port", DOORBELL_PORT);
    addr = arg_u64("addr", DOORBELL_MMIO);
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
