/* The ABI is the header include/vmhost_plugin.h; this file only makes the target buildable. */
#include "vmhost_plugin.h"
