/* System calls the Swift plugin SDK needs but Glibc's Swift module does not export (eventfd). Not part of the
 * plugin ABI: plugins get these through the SDK's EventFD type. */
#ifndef VMH_PLUGIN_SYSTEM_H
#define VMH_PLUGIN_SYSTEM_H
#include <stdint.h>

/** A new non-blocking, close-on-exec eventfd with count 0; -errno on failure. */
int vmh_eventfd_create(void);
/** Adds 1 to the eventfd's count; 0 or -errno. */
int vmh_eventfd_signal(int fd);
/** Reads and resets the count: the count (> 0), 0 when it was 0, or -errno. */
int64_t vmh_eventfd_drain(int fd);

#endif
