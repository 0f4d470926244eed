/* A well-formed C plugin: one device and one driver, with the ABI note. Variants for the broken-plugin corpus are
 * selected with -D options (see PluginLoaderTests.swift); with none it is a good plugin. */
#include "vmhost_plugin.h"

#ifndef DEVICE_NAME
#define DEVICE_NAME "FixtureDevice"
#endif
#ifndef DRIVER_NAME
#define DRIVER_NAME "FixtureDriver"
#endif

VMH_DECLARE_ABI_NOTE();

static int fixtureDeviceConstruct(VMHDevIns *ins) { (void)ins; return VMH_OK; }
static int fixtureDriverConstruct(VMHDrvIns *ins, uint32_t flags) { (void)ins; (void)flags; return VMH_OK; }

static const VMHDeviceReg fixtureDevice = {
    .version = VMH_DEVREG_VERSION,
    .hlpVersion = VMH_DEVHLP_VERSION,
    .name = DEVICE_NAME,
    .description = "Fixture device for the loader tests",
    .flags = 0,
    .order = VMH_DEVORDER_MISC,
    .maxInstances = 4,
    .instanceSize = 64,
    .construct = fixtureDeviceConstruct,
    .versionEnd = VMH_DEVREG_VERSION,
};

static const VMHDriverReg fixtureDriver = {
    .version = VMH_DRVREG_VERSION,
    .hlpVersion = VMH_DRVHLP_VERSION,
    .name = DRIVER_NAME,
    .description = "Fixture driver for the loader tests",
    .flags = 0,
    .maxInstances = 8,
    .instanceSize = 16,
    .construct = fixtureDriverConstruct,
    .versionEnd = VMH_DRVREG_VERSION,
};

__attribute__((visibility("default")))
int vmhost_plugin_register(const VMHRegistrar *registrar, uint32_t hostAbiVersion) {
    (void)hostAbiVersion;
    int rc = registrar->registerDevice(registrar, &fixtureDevice);
    if (rc != VMH_OK) return rc;
    return registrar->registerDriver(registrar, &fixtureDriver);
}
