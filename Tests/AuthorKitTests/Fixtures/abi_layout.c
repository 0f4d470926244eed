/* Prints "<key> <value>" lines: every VMH_*_VERSION (hex) and the size and member offsets of every struct of the
 * ABI, as compiled against whichever vmhost_plugin.h is on the include path. Two headers are layout-compatible
 * when every key of the older one has the same value in the newer one. */
#include "vmhost_plugin.h"

#include <stddef.h>
#include <stdio.h>

#define V(m) printf("version.%s %x\n", #m, (unsigned)(m))
#define S(t) printf("sizeof.%s %zu\n", #t, sizeof(t))
#define O(t, f) printf("offsetof.%s.%s %zu\n", #t, #f, offsetof(t, f))

int main(void) {
    V(VMH_ABI_VERSION); V(VMH_REGISTRAR_VERSION); V(VMH_DEVREG_VERSION); V(VMH_DEVINS_VERSION);
    V(VMH_DEVHLP_VERSION); V(VMH_DRVREG_VERSION); V(VMH_DRVINS_VERSION); V(VMH_DRVHLP_VERSION);

    S(VMHRegistrar); O(VMHRegistrar, version); O(VMHRegistrar, abiVersion); O(VMHRegistrar, hostPrivate);
    O(VMHRegistrar, registerDevice); O(VMHRegistrar, registerDriver); O(VMHRegistrar, reserved);
    O(VMHRegistrar, versionEnd);

    S(VMHDeviceReg); O(VMHDeviceReg, version); O(VMHDeviceReg, hlpVersion); O(VMHDeviceReg, name);
    O(VMHDeviceReg, description); O(VMHDeviceReg, flags); O(VMHDeviceReg, order); O(VMHDeviceReg, maxInstances);
    O(VMHDeviceReg, instanceSize); O(VMHDeviceReg, construct); O(VMHDeviceReg, destruct);
    O(VMHDeviceReg, initComplete); O(VMHDeviceReg, powerOn); O(VMHDeviceReg, reset); O(VMHDeviceReg, suspend);
    O(VMHDeviceReg, resume); O(VMHDeviceReg, powerOff); O(VMHDeviceReg, attach); O(VMHDeviceReg, detach);
    O(VMHDeviceReg, queryInterface); O(VMHDeviceReg, reserved); O(VMHDeviceReg, versionEnd);

    S(VMHDriverReg); O(VMHDriverReg, version); O(VMHDriverReg, hlpVersion); O(VMHDriverReg, name);
    O(VMHDriverReg, description); O(VMHDriverReg, flags); O(VMHDriverReg, maxInstances);
    O(VMHDriverReg, instanceSize); O(VMHDriverReg, reserved0); O(VMHDriverReg, construct);
    O(VMHDriverReg, destruct); O(VMHDriverReg, initComplete); O(VMHDriverReg, powerOn); O(VMHDriverReg, reset);
    O(VMHDriverReg, suspend); O(VMHDriverReg, resume); O(VMHDriverReg, powerOff); O(VMHDriverReg, attach);
    O(VMHDriverReg, detach); O(VMHDriverReg, queryInterface); O(VMHDriverReg, reserved);
    O(VMHDriverReg, versionEnd);

    S(VMHDevIns); O(VMHDevIns, version); O(VMHDevIns, instance); O(VMHDevIns, hlp); O(VMHDevIns, reg);
    O(VMHDevIns, data); O(VMHDevIns, name); O(VMHDevIns, hostPrivate); O(VMHDevIns, reserved);
    S(VMHDrvIns); O(VMHDrvIns, version); O(VMHDrvIns, instance); O(VMHDrvIns, hlp); O(VMHDrvIns, reg);
    O(VMHDrvIns, data); O(VMHDrvIns, name); O(VMHDrvIns, hostPrivate); O(VMHDrvIns, reserved);

    S(VMHDevHlp); O(VMHDevHlp, version); O(VMHDevHlp, reserved0); O(VMHDevHlp, log); O(VMHDevHlp, cfgValidate);
    O(VMHDevHlp, cfgQueryString); O(VMHDevHlp, cfgQueryInteger); O(VMHDevHlp, cfgQueryBool);
    O(VMHDevHlp, cfgError); O(VMHDevHlp, driverAttach); O(VMHDevHlp, queryLunInterface);
    O(VMHDevHlp, setAsyncNotification); O(VMHDevHlp, asyncNotificationCompleted); O(VMHDevHlp, ioPortRegister);
    O(VMHDevHlp, mmioRegister); O(VMHDevHlp, physRead); O(VMHDevHlp, physWrite); O(VMHDevHlp, setIrq);
    O(VMHDevHlp, timerCreate); O(VMHDevHlp, timerArm); O(VMHDevHlp, timerStop); O(VMHDevHlp, clockNanoseconds);
    O(VMHDevHlp, vmPowerOff); O(VMHDevHlp, vmSuspend); O(VMHDevHlp, versionEnd);

    S(VMHDrvHlp); O(VMHDrvHlp, version); O(VMHDrvHlp, reserved0); O(VMHDrvHlp, log); O(VMHDrvHlp, cfgValidate);
    O(VMHDrvHlp, cfgQueryString); O(VMHDrvHlp, cfgQueryInteger); O(VMHDrvHlp, cfgQueryBool);
    O(VMHDrvHlp, cfgError); O(VMHDrvHlp, attachBelow); O(VMHDrvHlp, queryBelow); O(VMHDrvHlp, queryAbove);
    O(VMHDrvHlp, setAsyncNotification); O(VMHDrvHlp, asyncNotificationCompleted);
    O(VMHDrvHlp, clockNanoseconds); O(VMHDrvHlp, versionEnd);

    S(VMHAbiNoteDesc); S(VMHAbiNote); O(VMHAbiNote, desc);
    S(VMHCharConnector); O(VMHCharConnector, context); O(VMHCharConnector, write); O(VMHCharConnector, flush);
    S(VMHCharPort); O(VMHCharPort, context); O(VMHCharPort, receive);
    return 0;
}
