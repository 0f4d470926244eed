/*
 * test_tally — a tiny stand-in host for libTally.so: loads it with dlopen, calls its entry point with a registrar
 * of its own, constructs one instance with a fake device-helper table, and drives its port handlers.
 * Usage: test_tally ./libTally.so     Prints one line per check and "N passed, N failed"; exit status 1 on failure.
 */
#define _POSIX_C_SOURCE 200809L
#include "vmhost_plugin.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond) do { \
        if (cond) { passed++; } else { failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

/* ---- What the fake host records ------------------------------------------------------------------------- */

static const VMHDeviceReg *registered;
static int registrations;

static struct {
    uint16_t port, count;
    void *user;
    VMHIoPortIn in;
    VMHIoPortOut out;
} ports;

static int lastIrq = -1, lastLevel = -1;
static int64_t settingIobase = -1; /* -1: absent */

/* ---- Registrar ------------------------------------------------------------------------------------------- */

static int fake_register_device(const VMHRegistrar *r, const VMHDeviceReg *reg) {
    (void)r;
    if (!reg || reg->version != reg->versionEnd || !VMH_VERSION_SATISFIES(VMH_DEVREG_VERSION, reg->version))
        return VMH_ERR_VERSION_MISMATCH;
    registered = reg;
    registrations++;
    return VMH_OK;
}

static int fake_register_driver(const VMHRegistrar *r, const VMHDriverReg *reg) {
    (void)r; (void)reg;
    return VMH_ERR_NOT_SUPPORTED;
}

/* ---- Device helpers (only what Tally uses does something) ------------------------------------------------ */

static void h_log(VMHDevIns *ins, int level, const char *message) {
    printf("  [%s] level %d: %s\n", ins->name, level, message);
}
static int h_cfgValidate(VMHDevIns *ins, const char *allowed) { (void)ins; (void)allowed; return VMH_OK; }
static int h_cfgQueryString(VMHDevIns *ins, const char *key, char *buf, size_t size) {
    (void)ins; (void)key; (void)buf; (void)size; return VMH_ERR_NOT_FOUND;
}
static int h_cfgQueryInteger(VMHDevIns *ins, const char *key, int64_t *value) {
    (void)ins;
    if (strcmp(key, "iobase") == 0 && settingIobase >= 0) { *value = settingIobase; return VMH_OK; }
    return VMH_ERR_NOT_FOUND;
}
static int h_cfgQueryBool(VMHDevIns *ins, const char *key, bool *value) {
    (void)ins; (void)key; (void)value; return VMH_ERR_NOT_FOUND;
}
static int h_cfgError(VMHDevIns *ins, const char *key, const char *message) {
    printf("  [%s] config error at %s: %s\n", ins->name, key, message);
    return VMH_OK;
}
static int h_driverAttach(VMHDevIns *ins, uint32_t lun) { (void)ins; (void)lun; return VMH_ERR_NO_DRIVER_ATTACHED; }
static void *h_queryLunInterface(VMHDevIns *ins, uint32_t lun, const char *iid) {
    (void)ins; (void)lun; (void)iid; return NULL;
}
static int h_setAsync(VMHDevIns *ins, VMHDevAsyncNotify poller) { (void)ins; (void)poller; return VMH_ERR_WRONG_STATE; }
static void h_asyncDone(VMHDevIns *ins) { (void)ins; }
static int h_ioPortRegister(VMHDevIns *ins, uint16_t port, uint16_t count, void *user, VMHIoPortIn in,
                            VMHIoPortOut out, const char *description) {
    (void)ins; (void)description;
    ports.port = port; ports.count = count; ports.user = user; ports.in = in; ports.out = out;
    return VMH_OK;
}
static int h_mmioRegister(VMHDevIns *ins, uint64_t gpa, uint64_t size, void *user, VMHMmioRead r, VMHMmioWrite w,
                          const char *description) {
    (void)ins; (void)gpa; (void)size; (void)user; (void)r; (void)w; (void)description; return VMH_ERR_NOT_SUPPORTED;
}
static int h_physRead(VMHDevIns *ins, uint64_t gpa, void *buf, size_t size) {
    (void)ins; (void)gpa; (void)buf; (void)size; return VMH_ERR_NOT_SUPPORTED;
}
static int h_physWrite(VMHDevIns *ins, uint64_t gpa, const void *buf, size_t size) {
    (void)ins; (void)gpa; (void)buf; (void)size; return VMH_ERR_NOT_SUPPORTED;
}
static int h_setIrq(VMHDevIns *ins, uint32_t irq, int level) { (void)ins; lastIrq = (int)irq; lastLevel = level; return VMH_OK; }
static int h_timerCreate(VMHDevIns *ins, VMHTimerCallback cb, void *user, const char *d, uint64_t *timer) {
    (void)ins; (void)cb; (void)user; (void)d; (void)timer; return VMH_ERR_NOT_SUPPORTED;
}
static int h_timerArm(VMHDevIns *ins, uint64_t timer, uint64_t ns) { (void)ins; (void)timer; (void)ns; return VMH_ERR_NOT_SUPPORTED; }
static int h_timerStop(VMHDevIns *ins, uint64_t timer) { (void)ins; (void)timer; return VMH_ERR_NOT_SUPPORTED; }
static uint64_t h_clock(VMHDevIns *ins) { (void)ins; return 0; }
static int h_powerOff(VMHDevIns *ins, int status) { (void)ins; (void)status; return VMH_ERR_NOT_SUPPORTED; }
static int h_suspend(VMHDevIns *ins, int reason) { (void)ins; (void)reason; return VMH_ERR_NOT_SUPPORTED; }

static const VMHDevHlp helpers = {
    .version = VMH_DEVHLP_VERSION,
    .log = h_log, .cfgValidate = h_cfgValidate, .cfgQueryString = h_cfgQueryString,
    .cfgQueryInteger = h_cfgQueryInteger, .cfgQueryBool = h_cfgQueryBool, .cfgError = h_cfgError,
    .driverAttach = h_driverAttach, .queryLunInterface = h_queryLunInterface,
    .setAsyncNotification = h_setAsync, .asyncNotificationCompleted = h_asyncDone,
    .ioPortRegister = h_ioPortRegister, .mmioRegister = h_mmioRegister, .physRead = h_physRead,
    .physWrite = h_physWrite, .setIrq = h_setIrq, .timerCreate = h_timerCreate, .timerArm = h_timerArm,
    .timerStop = h_timerStop, .clockNanoseconds = h_clock, .vmPowerOff = h_powerOff, .vmSuspend = h_suspend,
    .versionEnd = VMH_DEVHLP_VERSION,
};

static uint32_t port_in(VMHDevIns *ins, uint16_t port, uint32_t size) {
    uint32_t value = 0;
    CHECK(ports.in(ins, ports.user, port, size, &value) == VMH_OK);
    return value;
}

static void port_out(VMHDevIns *ins, uint16_t port, uint32_t size, uint32_t value) {
    CHECK(ports.out(ins, ports.user, port, size, value) == VMH_OK);
}

/* Builds an instance the way the host does: zeroed 64-byte aligned data of reg->instanceSize bytes. */
static VMHDevIns *new_instance(void) {
    VMHDevIns *ins = calloc(1, sizeof *ins);
    if (!ins) return NULL;
    ins->version = VMH_DEVINS_VERSION;
    ins->hlp = &helpers;
    ins->reg = registered;
    ins->name = "Tally/0";
    size_t size = (registered->instanceSize + 63u) / 64u * 64u;
    ins->data = size ? aligned_alloc(64, size) : NULL;
    if (ins->data) memset(ins->data, 0, size);
    return ins;
}

static void free_instance(VMHDevIns *ins) {
    if (registered->destruct) registered->destruct(ins);
    free(ins->data);
    free(ins);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "./libTally.so";
    void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!module) { fprintf(stderr, "dlopen %s: %s\n", path, dlerror()); return 1; }
    VMHPluginEntry entry;
    void *symbol = dlsym(module, VMH_PLUGIN_ENTRY_NAME);
    if (!symbol) { fprintf(stderr, "%s does not export %s\n", path, VMH_PLUGIN_ENTRY_NAME); return 1; }
    memcpy(&entry, &symbol, sizeof entry); /* ISO C has no object-to-function pointer cast */

    VMHRegistrar registrar = {
        .version = VMH_REGISTRAR_VERSION, .abiVersion = VMH_ABI_VERSION,
        .registerDevice = fake_register_device, .registerDriver = fake_register_driver,
        .versionEnd = VMH_REGISTRAR_VERSION,
    };
    /* A host with another major is refused by the plugin itself. */
    CHECK(entry(&registrar, VMH_VERSION_MAKE(0x564d, 2, 0)) == VMH_ERR_VERSION_MISMATCH);
    CHECK(registrations == 0);

    CHECK(entry(&registrar, VMH_ABI_VERSION) == VMH_OK);
    CHECK(registrations == 1);
    if (!registered) { fprintf(stderr, "nothing registered\n"); return 1; }
    CHECK(strcmp(registered->name, "Tally") == 0);
    CHECK(registered->construct != NULL);
    CHECK(registered->maxInstances == 4);
    for (int i = 0; i < 8; i++) CHECK(registered->reserved[i] == NULL);

    /* Default settings: ports at 0x520. */
    VMHDevIns *ins = new_instance();
    if (!ins) return 1;
    CHECK(registered->construct(ins) == VMH_OK);
    CHECK(ports.port == 0x520 && ports.count == 4);
    CHECK(port_in(ins, 0x520, 4) == 0);
    port_out(ins, 0x520, 4, 40);
    port_out(ins, 0x520, 1, 0x102); /* a 1-byte write adds only the low byte: 2 */
    CHECK(port_in(ins, 0x520, 4) == 42);
    CHECK(port_in(ins, 0x521, 1) == 2);
    CHECK(port_in(ins, 0x523, 2) == 0x7a11);
    CHECK(port_in(ins, 0x523, 1) == 0x11);
    port_out(ins, 0x522, 1, 1);
    CHECK(lastIrq == 5 && lastLevel == 1);
    port_out(ins, 0x522, 1, 0);
    CHECK(lastLevel == 0);
    registered->reset(ins);
    CHECK(port_in(ins, 0x520, 4) == 0);
    port_out(ins, 0x520, 2, 7);
    port_out(ins, 0x521, 1, 0);
    CHECK(port_in(ins, 0x520, 4) == 0 && port_in(ins, 0x521, 4) == 0);
    free_instance(ins);

    /* A configured iobase, and a bad one. */
    settingIobase = 0x600;
    ins = new_instance();
    if (!ins) return 1;
    CHECK(registered->construct(ins) == VMH_OK);
    CHECK(ports.port == 0x600);
    free_instance(ins);
    settingIobase = 0xfffe;
    ins = new_instance();
    if (!ins) return 1;
    CHECK(registered->construct(ins) == VMH_ERR_INVALID_VALUE);
    free_instance(ins);

    /* An instance handed an older (other-major) helper table is refused by VMH_DEVINS_CHECK_VERSIONS_RETURN. */
    VMHDevHlp old = helpers;
    old.version = VMH_VERSION_MAKE(0xa012, 0, 9);
    settingIobase = -1;
    ins = new_instance();
    if (!ins) return 1;
    ins->hlp = &old;
    CHECK(registered->construct(ins) == VMH_ERR_VERSION_MISMATCH);
    free_instance(ins);

    /* A host one helper minor older than this header (when the header has a minor above 0) is refused too: the
     * plugin may call helpers that host's table does not have. */
    if (VMH_VERSION_MINOR(VMH_DEVHLP_VERSION) > 0) {
        old.version = VMH_DEVHLP_VERSION - 1u;
        ins = new_instance();
        if (!ins) return 1;
        ins->hlp = &old;
        CHECK(registered->construct(ins) == VMH_ERR_VERSION_MISMATCH);
        free_instance(ins);
    }

    printf("test_tally: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
