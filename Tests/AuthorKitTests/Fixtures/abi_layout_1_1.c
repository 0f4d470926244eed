/* The members device helpers minor 1 added, printed like abi_layout.c. Compiled only against headers of
 * VMH_DEVHLP_VERSION 1.1 or later (the frozen abi-1.1 copy and the current header): a later minor must keep each
 * of them where 1.1 put it. */
#include "vmhost_plugin.h"

#include <stddef.h>
#include <stdio.h>

#define O(t, f) printf("offsetof.%s.%s %zu\n", #t, #f, offsetof(t, f))

int main(void) {
    O(VMHDevHlp, ioEventFdRegister); O(VMHDevHlp, irqFdRegister); O(VMHDevHlp, kernelCmdlineAppend);
    printf("value.VMH_IOEVENT_SPACE_PORT %u\n", VMH_IOEVENT_SPACE_PORT);
    printf("value.VMH_IOEVENT_SPACE_MMIO %u\n", VMH_IOEVENT_SPACE_MMIO);
    printf("value.VMH_IOEVENT_F_DATAMATCH %u\n", VMH_IOEVENT_F_DATAMATCH);
    printf("value.VMH_IOEVENT_F_DEASSIGN %u\n", VMH_IOEVENT_F_DEASSIGN);
    printf("value.VMH_IRQFD_F_DEASSIGN %u\n", VMH_IRQFD_F_DEASSIGN);
    return 0;
}
