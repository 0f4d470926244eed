#include "ckvm.h"

/* CLOCK_MONOTONIC at the executable's first initializer (0 if none ran). */
static uint64_t ckvm_process_start;

/* Runs before Swift's main, once the dynamic loader has mapped and relocated every library and run their
 * initializers: the earliest moment code of ours can see. */
__attribute__((constructor(101))) static void ckvm_record_process_start(void) {
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) == 0)
        ckvm_process_start = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

uint64_t ckvm_process_start_ns(void) { return ckvm_process_start; }
