/* A C plugin for the loader tests: one device and one driver. With no -D options it is a good plugin with the ABI
 * note; each macro below can be overridden with -D to build one member of the broken-plugin corpus
 * (see PluginLoaderTests.swift). */
#include "vmhost_plugin.h"

#ifdef CTOR_MARKER
/* Proves whether any code of the module ran: creates the file CTOR_MARKER when the module is mapped. */
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void fixtureMarkLoaded(void) {
    int fd = open(CTOR_MARKER, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
}
#endif

#ifndef DEVICE_NAME
#define DEVICE_NAME "FixtureDevice"
#endif
#ifndef DRIVER_NAME
#define DRIVER_NAME "FixtureDriver"
#endif
#ifndef DEV_DESCRIPTION
#define DEV_DESCRIPTION "Fixture device for the loader tests"
#endif
#ifndef DEV_VERSION
#define DEV_VERSION VMH_DEVREG_VERSION
#endif
#ifndef DEV_VERSION_END
#define DEV_VERSION_END DEV_VERSION
#endif
#ifndef DEV_HLP_VERSION
#define DEV_HLP_VERSION VMH_DEVHLP_VERSION
#endif
#ifndef DEV_CONSTRUCT
#define DEV_CONSTRUCT fixtureDeviceConstruct
#endif
#ifndef DEV_MAX_INSTANCES
#define DEV_MAX_INSTANCES 4
#endif
#ifndef DEV_FLAGS
#define DEV_FLAGS 0
#endif
#ifndef DEV_INSTANCE_SIZE
#define DEV_INSTANCE_SIZE 64
#endif
#ifndef DEV_RESERVED_SLOT2
#define DEV_RESERVED_SLOT2 0
#endif
#ifndef DRV_VERSION
#define DRV_VERSION VMH_DRVREG_VERSION
#endif
#ifndef DRV_RESERVED0
#define DRV_RESERVED0 0
#endif
#ifndef ENTRY_NAME
#define ENTRY_NAME vmhost_plugin_register
#endif
/* Status the entry point returns after its registrations succeeded. */
#ifndef ENTRY_RESULT
#define ENTRY_RESULT VMH_OK
#endif
/* 0: skip the driver registration. */
#ifndef REGISTER_DRIVER
#define REGISTER_DRIVER 1
#endif
/* 1: go on and return VMH_OK even when the host refused a registration. */
#ifndef IGNORE_REFUSAL
#define IGNORE_REFUSAL 0
#endif

#ifdef NOTE_DEVHLP_VERSION
/* A hand-made ABI note that claims another device-helper version. */
__attribute__((section(".note.vmhost"), used, aligned(4)))
const VMHAbiNote vmh_abi_note = { 7, sizeof(VMHAbiNoteDesc), VMH_NOTE_TYPE_ABI, "VMHost",
    { VMH_ABI_VERSION, VMH_REGISTRAR_VERSION, VMH_DEVREG_VERSION, VMH_DEVINS_VERSION, NOTE_DEVHLP_VERSION,
      VMH_DRVREG_VERSION, VMH_DRVINS_VERSION, VMH_DRVHLP_VERSION } };
#elif !defined(NO_NOTE)
VMH_DECLARE_ABI_NOTE();
#endif

__attribute__((unused)) static int fixtureDeviceConstruct(VMHDevIns *ins) { (void)ins; return VMH_OK; }
#ifdef UNDEFINED_CALL
/* A symbol nothing defines: with RTLD_NOW the dynamic linker refuses the module. */
extern int vmhost_missing_function(void);
static int fixtureDriverConstruct(VMHDrvIns *ins, uint32_t flags) {
    (void)ins; (void)flags; return vmhost_missing_function();
}
#else
static int fixtureDriverConstruct(VMHDrvIns *ins, uint32_t flags) { (void)ins; (void)flags; return VMH_OK; }
#endif

static const VMHDeviceReg fixtureDevice = {
    .version = DEV_VERSION,
    .hlpVersion = DEV_HLP_VERSION,
    .name = DEVICE_NAME,
    .description = DEV_DESCRIPTION,
    .flags = DEV_FLAGS,
    .order = VMH_DEVORDER_MISC,
    .maxInstances = DEV_MAX_INSTANCES,
    .instanceSize = DEV_INSTANCE_SIZE,
    .construct = DEV_CONSTRUCT,
    .reserved = { 0, 0, (VMHReservedFn)DEV_RESERVED_SLOT2 },
    .versionEnd = DEV_VERSION_END,
};

static const VMHDriverReg fixtureDriver = {
    .version = DRV_VERSION,
    .hlpVersion = VMH_DRVHLP_VERSION,
    .name = DRIVER_NAME,
    .description = "Fixture driver for the loader tests",
    .flags = 0,
    .maxInstances = 8,
    .instanceSize = 16,
    .reserved0 = DRV_RESERVED0,
    .construct = fixtureDriverConstruct,
    .versionEnd = DRV_VERSION,
};

__attribute__((visibility("default")))
int ENTRY_NAME(const VMHRegistrar *registrar, uint32_t hostAbiVersion) {
    (void)hostAbiVersion;
    if (registrar->version != VMH_REGISTRAR_VERSION || registrar->versionEnd != VMH_REGISTRAR_VERSION)
        return VMH_ERR_VERSION_MISMATCH;
#ifdef FORGED_REGISTRAR
    {
        /* A NULL and a forged registrar must be refused without harm; a copy of the real one is fine. */
        VMHRegistrar forged = *registrar;
        forged.hostPrivate = (void *)0x1234;
        if (registrar->registerDevice(NULL, &fixtureDevice) != VMH_ERR_INVALID_PARAMETER) return -100;
        if (registrar->registerDevice(&forged, &fixtureDevice) != VMH_ERR_INVALID_PARAMETER) return -101;
        forged.hostPrivate = registrar->hostPrivate;
        registrar = &forged;
        int copied = registrar->registerDevice(registrar, &fixtureDevice);
        if (copied != VMH_OK) return copied;
        return registrar->registerDriver(registrar, &fixtureDriver);
    }
#endif
    int rc = registrar->registerDevice(registrar, &fixtureDevice);
    if (rc != VMH_OK && !IGNORE_REFUSAL) return rc;
#ifdef REGISTER_DEVICE_TWICE
    rc = registrar->registerDevice(registrar, &fixtureDevice);
    if (rc != VMH_OK && !IGNORE_REFUSAL) return rc;
#endif
    if (REGISTER_DRIVER) {
        rc = registrar->registerDriver(registrar, &fixtureDriver);
        if (rc != VMH_OK && !IGNORE_REFUSAL) return rc;
    }
    return ENTRY_RESULT;
}
