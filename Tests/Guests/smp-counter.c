/*
 * smp-counter: every CPU enters ring 3 and increments its own u64 in the status page forever.
 *   cpus=N       (default 1, at most GUEST_MAX_CPUS) CPUs to start; the BSP sends INIT/SIPI/SIPI to
 *                APIC ids 1..N-1 (xAPIC MMIO), the APs come up through the trampoline at 0x8000.
 *   heartbeat=K  (default 0 = off) the BSP prints `guest: cpu0 count=<n>` every K * 2^20 increments, and
 *                `smp-counter: <k> cpus in ring 3` before it whenever the ring-3 count changed.
 * Status page (guest-physical 0x10000): u64 counter of CPU n at +64*n; "VHMG" (0x474d4856) at +0x800 once
 * the BSP is in ring 3; u32 at +0x804 counts the CPUs that reached ring 3.  Never exits.
 */
#include "guest.h"

#define LAPIC_ID      0x020
#define LAPIC_SVR     0x0f0
#define LAPIC_ICR_LO  0x300
#define LAPIC_ICR_HI  0x310

extern const char ap_trampoline_start[], ap_trampoline_end[];

static void lapic_write(u32 reg, u32 v)
{
    mmio_write32(LAPIC_BASE + reg, v);
}

static void send_ipi(unsigned apic_id, u32 icr_lo)
{
    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, icr_lo);
}

/* Ring 0, BSP. KVM needs no INIT/SIPI delays, so there is no waiting here. */
void guest_kernel_init(void)
{
    u64 n = arg_u64("cpus", 1);
    if (n > GUEST_MAX_CPUS)
        n = GUEST_MAX_CPUS;
    if (n < 2)
        return;
    memcpy((void *)AP_TRAMPOLINE_ADDR, ap_trampoline_start, (unsigned long)(ap_trampoline_end - ap_trampoline_start));
    lapic_write(LAPIC_SVR, 0x1ff);                          /* software-enable, spurious vector 0xff */
    for (unsigned id = 1; id < n; id++) {
        send_ipi(id, 0x00004500);                           /* INIT, level assert */
        send_ipi(id, 0x00004600 | AP_SIPI_VECTOR);          /* STARTUP */
        send_ipi(id, 0x00004600 | AP_SIPI_VECTOR);
    }
}

int guest_main(unsigned cpu)
{
    volatile u64 *counter = (volatile u64 *)(u64)(STATUS_PAGE + 64 * cpu);
    if (cpu == 0)
        *(volatile u32 *)(u64)(STATUS_PAGE + STATUS_MAGIC_OFF) = STATUS_MAGIC;
    __asm__ volatile("lock incl %0" : "+m"(*(volatile u32 *)(u64)(STATUS_PAGE + STATUS_RING3_OFF)));
    u64 heartbeat = cpu == 0 ? arg_u64("heartbeat", 0) << 20 : 0;
    if (heartbeat == 0)
        for (;;)
            (*counter)++;
    volatile u32 *ring3 = (volatile u32 *)(u64)(STATUS_PAGE + STATUS_RING3_OFF);
    u32 seen = 0;
    for (;;) {
        for (u64 i = 0; i < heartbeat; i++)
            (*counter)++;
        if (*ring3 != seen) {
            seen = *ring3;
            com1_puts("smp-counter: ");
            com1_putu(seen);
            com1_puts(" cpus in ring 3\n");
        }
        com1_puts("guest: cpu0 count=");
        com1_putu(*counter);
        com1_putc('\n');
    }
}
