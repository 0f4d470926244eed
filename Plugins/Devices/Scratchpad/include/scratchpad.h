/* Scratchpad is a plain C plugin whose only interface is its VMHost entry point (vmhost_plugin_register); the
 * register map is documented at the top of scratchpad.c. SwiftPM requires a C target to have an include folder,
 * which is all this header is for. */
#ifndef VMHOST_SCRATCHPAD_H
#define VMHOST_SCRATCHPAD_H
#endif
