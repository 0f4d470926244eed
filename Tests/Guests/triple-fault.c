/*
 * triple-fault: prints `triple-fault: loading an empty IDT`, loads an IDT with limit 0 and raises #UD (ud2)
 * in ring 0: #UD → #GP (no gate) → #DF (no gate) → triple fault → shutdown exit (KVM_EXIT_SHUTDOWN;
 * QEMU with -no-reboot exits with status 0).  Never reaches DebugExit.
 */
#include "guest.h"

void guest_kernel_init(void)
{
    struct { u16 limit; u64 base; } __attribute__((packed)) empty = { 0, 0 };
    com1_puts("triple-fault: loading an empty IDT\n");
    __asm__ volatile("lidt %0" :: "m"(empty));
    __asm__ volatile("ud2");
    for (;;)
        __asm__ volatile("hlt");
}

int guest_main(unsigned cpu)
{
    (void)cpu;
    com1_puts("triple-fault: FAIL still running\n");
    return 1;
}
