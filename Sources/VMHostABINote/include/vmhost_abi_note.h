/* Links the VMHost ABI note (see VMH_DECLARE_ABI_NOTE in vmhost_plugin.h) into every Swift plugin built with
 * the SDK. Nothing to call. */
#ifndef VMHOST_ABI_NOTE_H
#define VMHOST_ABI_NOTE_H
#include "vmhost_plugin.h"
#endif
