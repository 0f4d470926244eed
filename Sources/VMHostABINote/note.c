#include "vmhost_abi_note.h"

/* Records the header versions this plugin was compiled against in section .note.vmhost. */
VMH_DECLARE_ABI_NOTE();
