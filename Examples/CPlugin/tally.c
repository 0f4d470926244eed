/*
 * Tally — an out-of-tree VMHost device plugin written in plain C11 against vmhost_plugin.h alone.
 *
 * The guest sees four I/O ports at `iobase` (default 0x520):
 *   iobase+0  read: the 32-bit tally; write: adds the value written (of the access size) to the tally
 *   iobase+1  write: resets the tally to 0; read: how many writes iobase+0 took since the last reset
 *   iobase+2  write: drives interrupt line `irq` (default 5) to bit 0 of the value
 *   iobase+3  read: the magic 0x7a11 (two bytes)
 * A VM reset also clears the tally; power-off logs it. Settings: `iobase` (0..0xfffc), `irq` (0..23).
 *
 * Build: make            (or: cc -std=c11 -Wall -Wextra -Wpedantic -Werror -shared -fPIC -I<dir of the header>)
 * Test:  make test       (a C driver that loads libTally.so and plays host: test_tally.c)
 */
#include "vmhost_plugin.h"

#include <stdio.h>
#include <string.h>

/* Records the header versions this file was compiled against, so `vmhost plugin check` and the host's loader can
 * judge the .so before running any of its code. */
VMH_DECLARE_ABI_NOTE();

#define TALLY_PORTS 4u
#define TALLY_MAGIC 0x7a11u

/** Per-instance state: lives in ins->data (zeroed by the host, reg.instanceSize bytes). */
typedef struct TallyState {
    uint16_t iobase;
    uint32_t irq;
    uint32_t tally;
    uint32_t writes;
} TallyState;

static void tally_log(VMHDevIns *ins, int level, const char *message) {
    ins->hlp->log(ins, level, message);
}

static uint32_t mask_of(uint32_t size) {
    return size >= 4 ? 0xffffffffu : (1u << (size * 8u)) - 1u;
}

static int tally_in(VMHDevIns *ins, void *user, uint16_t port, uint32_t size, uint32_t *value) {
    TallyState *state = user;
    (void)ins;
    switch (port - state->iobase) {
    case 0: *value = state->tally & mask_of(size); break;
    case 1: *value = state->writes & mask_of(size); break;
    case 3: *value = TALLY_MAGIC & mask_of(size); break;
    default: *value = mask_of(size); break; /* an empty bus reads all-ones */
    }
    return VMH_OK;
}

static int tally_out(VMHDevIns *ins, void *user, uint16_t port, uint32_t size, uint32_t value) {
    TallyState *state = user;
    switch (port - state->iobase) {
    case 0:
        state->tally += value & mask_of(size);
        state->writes++;
        return VMH_OK;
    case 1:
        state->tally = 0;
        state->writes = 0;
        return VMH_OK;
    case 2:
        return ins->hlp->setIrq(ins, state->irq, (int)(value & 1u));
    default:
        return VMH_OK; /* writes to iobase+3 are dropped */
    }
}

static int tally_construct(VMHDevIns *ins) {
    VMH_DEVINS_CHECK_VERSIONS_RETURN(ins);
    TallyState *state = ins->data;
    const VMHDevHlp *hlp = ins->hlp;
    int64_t iobase = 0x520;
    int64_t irq = 5;
    char line[96];

    int rc = hlp->cfgValidate(ins, "iobase|irq");
    if (rc != VMH_OK) return rc;
    rc = hlp->cfgQueryInteger(ins, "iobase", &iobase);
    if (rc != VMH_OK && rc != VMH_ERR_NOT_FOUND) return rc;
    if (iobase < 0 || iobase > 0x10000 - (int64_t)TALLY_PORTS) {
        hlp->cfgError(ins, "iobase", "must lie in 0..0xfffc");
        return VMH_ERR_INVALID_VALUE;
    }
    rc = hlp->cfgQueryInteger(ins, "irq", &irq);
    if (rc != VMH_OK && rc != VMH_ERR_NOT_FOUND) return rc;
    if (irq < 0 || irq > 23) {
        hlp->cfgError(ins, "irq", "must lie in 0..23");
        return VMH_ERR_INVALID_VALUE;
    }
    state->iobase = (uint16_t)iobase;
    state->irq = (uint32_t)irq;
    rc = hlp->ioPortRegister(ins, state->iobase, TALLY_PORTS, state, tally_in, tally_out, "tally");
    if (rc != VMH_OK) return rc;
    snprintf(line, sizeof line, "ports 0x%x..0x%x, irq %u", (unsigned)state->iobase,
             (unsigned)(state->iobase + TALLY_PORTS - 1u), (unsigned)state->irq);
    tally_log(ins, VMH_LOG_INFO, line);
    return VMH_OK;
}

static void tally_reset(VMHDevIns *ins) {
    TallyState *state = ins->data;
    state->tally = 0;
    state->writes = 0;
    tally_log(ins, VMH_LOG_INFO, "reset");
}

static void tally_power_off(VMHDevIns *ins) {
    const TallyState *state = ins->data;
    char line[96];
    snprintf(line, sizeof line, "power off: tally %u after %u write(s)", (unsigned)state->tally,
             (unsigned)state->writes);
    tally_log(ins, VMH_LOG_INFO, line);
}

static const VMHDeviceReg tally_registration = {
    .version = VMH_DEVREG_VERSION,
    .hlpVersion = VMH_DEVHLP_VERSION,
    .name = "Tally",
    .description = "Adds up what the guest writes to a port (out-of-tree C example)",
    .flags = 0,
    .order = VMH_DEVORDER_MISC,
    .maxInstances = 4,
    .instanceSize = sizeof(TallyState),
    .construct = tally_construct,
    .reset = tally_reset,
    .powerOff = tally_power_off,
    .versionEnd = VMH_DEVREG_VERSION,
};

/* The one exported symbol. Everything else is static, so nothing else leaks out of the .so. */
__attribute__((visibility("default")))
int vmhost_plugin_register(const VMHRegistrar *registrar, uint32_t hostAbiVersion) {
    if (!registrar || !VMH_VERSION_SATISFIES(hostAbiVersion, VMH_ABI_VERSION)
        || !VMH_VERSION_SATISFIES(registrar->version, VMH_REGISTRAR_VERSION))
        return VMH_ERR_VERSION_MISMATCH;
    return registrar->registerDevice(registrar, &tally_registration);
}
