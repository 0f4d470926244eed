/* hello: prints one line on COM1 (from ring 3), then exits via DebugExit with value 0x10. */
#include "guest.h"

int guest_main(unsigned cpu)
{
    (void)cpu;
    com1_puts("hello: VMHost PVH test guest reached ring 3\n");
    return 0x10;
}
