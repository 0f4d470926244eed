/* Links the VMHost ABI note (see VMH_DECLARE_ABI_NOTE in vmhost_plugin.h) into every Swift plugin built with
 * the SDK. Nothing to call. */
#ifndef VMHOST_ABI_NOTE_H
#define VMHOST_ABI_NOTE_H
#include "vmhost_plugin.h"

/** The note itself (defined in note.c). The Swift SDK reads the versions it was compiled against from here, so they
 *  always equal the header's VMH_*_VERSION values (Swift cannot import those function-like macros). */
extern const VMHAbiNote vmh_abi_note;
#endif
