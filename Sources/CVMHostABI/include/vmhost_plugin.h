/*
 * vmhost_plugin.h — the VMHost plugin ABI.
 *
 * This one self-contained C header is the whole contract between the VMHost virtual machine monitor and its
 * device and driver plugins. A plugin is a shared object (ELF64, x86-64) that exports one C function,
 * `vmhost_plugin_register` (VMH_PLUGIN_ENTRY_NAME), and never links against the host: everything the host offers
 * reaches the plugin through the helper tables below.
 *
 * Vocabulary
 *   device   — an emulated piece of hardware the guest sees (a UART, a block controller). A VM configuration names
 *              device instances; each has numbered LUNs (logical units).
 *   driver   — a host-side layer attached below a device LUN or below another driver, forming a chain
 *              (e.g. Serial16550 -> LUN 0 -> Char -> Stdio). The driver nearest the device is the "top" driver.
 *   instance — one constructed device or driver; its per-instance memory (`data`) is allocated, zeroed and owned
 *              by the host.
 *
 * Versioning
 *   Every struct that crosses the boundary carries a 32-bit version value VMH_VERSION_MAKE(magic, major, minor):
 *   bits 31..16 a magic unique to the struct type, bits 15..8 the major, bits 7..0 the minor. Registration
 *   structs carry the value at both ends (`version`, `versionEnd`); a mismatch between the two means the struct
 *   was not fully or correctly initialised and the host refuses it.
 *   - Same magic and same major are required on both sides.
 *   - A minor bump only appends: a new callback or helper takes one of the reserved slots, so struct sizes and
 *     offsets never change within a major. A plugin built against an older minor therefore works on a newer host
 *     (the slots it does not know are NULL/unused); a plugin built against a newer minor than the host implements
 *     is refused, by name, before any of its code other than the entry point runs.
 *   - See docs/abi-compatibility.md for the full policy.
 *
 * Threads and locking
 *   - The entry point, construct, initComplete, destruct, attach and detach run on the thread that creates the
 *     VM (EMT 0 once the VMM runs).
 *   - powerOn, suspend, resume, reset, powerOff and the async-notify pollers run on EMT 0 inside an EMT
 *     rendezvous: the guest is stopped and every other vCPU thread is parked.
 *   - Port-I/O and MMIO handlers run on the vCPU thread (EMT) that took the exit. Unless a device sets
 *     VMH_DEVREG_F_THREAD_SAFE, the host serialises all callbacks of one device instance (I/O handlers, timers and
 *     power callbacks) with a per-instance lock. Drivers get no lock from the host.
 *   - asyncNotificationCompleted may be called from any thread, as may the timer helpers (timerArm, timerArmAt,
 *     timerStop) and the clocks. A timer is re-armed or stopped exactly only under the instance lock, i.e. from
 *     the device's own callbacks: from another thread, a callback for the previous deadline that was already due
 *     may still run once after the call returns.
 *
 * Status codes: VMH_OK (0) for success, a negative VMH_ERR_* for failure.
 */
#ifndef VMHOST_PLUGIN_H
#define VMHOST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================================== */
/* Versions                                                                                                        */
/* ============================================================================================================== */

/** Builds a version value: 16-bit struct magic, 8-bit major, 8-bit minor. */
#define VMH_VERSION_MAKE(magic, major, minor) \
    ((uint32_t)((((uint32_t)(magic) & 0xffffu) << 16) | (((uint32_t)(major) & 0xffu) << 8) | ((uint32_t)(minor) & 0xffu)))
/** The magic of a version value. */
#define VMH_VERSION_MAGIC(v)  (((uint32_t)(v) >> 16) & 0xffffu)
/** The major of a version value. */
#define VMH_VERSION_MAJOR(v)  (((uint32_t)(v) >> 8) & 0xffu)
/** The minor of a version value. */
#define VMH_VERSION_MINOR(v)  ((uint32_t)(v) & 0xffu)
/** True when something built against `built` may be used by a side that implements `have`: same magic, same
 *  major, and `have`'s minor at least `built`'s (with magic and major equal, comparing the whole values compares
 *  the minors; written so to stay free of -Wtype-limits warnings when `built`'s minor is 0). */
#define VMH_VERSION_SATISFIES(have, built) \
    (((uint32_t)(have) >> 8) == ((uint32_t)(built) >> 8) && (uint32_t)(have) >= (uint32_t)(built))

/** Version of the plugin ABI as a whole; passed to the entry point. */
#define VMH_ABI_VERSION          VMH_VERSION_MAKE(0x564d, 1, 0)
/** VMHRegistrar, the table handed to the entry point. */
#define VMH_REGISTRAR_VERSION    VMH_VERSION_MAKE(0xa001, 1, 0)
/** VMHDeviceReg. */
#define VMH_DEVREG_VERSION       VMH_VERSION_MAKE(0xa010, 1, 0)
/** VMHDevIns. */
#define VMH_DEVINS_VERSION       VMH_VERSION_MAKE(0xa011, 1, 0)
/** VMHDevHlp. Minor 1 added ioEventFdRegister, irqFdRegister and kernelCmdlineAppend; minor 2 added
 *  deviceClockNanoseconds and timerArmAt (all in former reserved slots). */
#define VMH_DEVHLP_VERSION       VMH_VERSION_MAKE(0xa012, 1, 2)
/** VMHDriverReg. */
#define VMH_DRVREG_VERSION       VMH_VERSION_MAKE(0xa020, 1, 0)
/** VMHDrvIns. */
#define VMH_DRVINS_VERSION       VMH_VERSION_MAKE(0xa021, 1, 0)
/** VMHDrvHlp. */
#define VMH_DRVHLP_VERSION       VMH_VERSION_MAKE(0xa022, 1, 0)

/** Name of the one symbol a plugin exports. */
#define VMH_PLUGIN_ENTRY_NAME    "vmhost_plugin_register"
/** Maximum length of a device or driver name, including the terminating NUL. Names use [A-Za-z0-9_-] only and
 *  start with a letter. */
#define VMH_NAME_MAX             32

/* ============================================================================================================== */
/* Status codes                                                                                                    */
/* ============================================================================================================== */

#define VMH_OK                          0
#define VMH_ERR_GENERAL                (-1)   /**< Unspecified failure. */
#define VMH_ERR_INVALID_PARAMETER      (-2)   /**< A NULL or out-of-range argument. */
#define VMH_ERR_NOT_SUPPORTED          (-3)   /**< This host does not provide the service (e.g. no VMM). */
#define VMH_ERR_NO_MEMORY              (-4)
#define VMH_ERR_NOT_FOUND              (-5)   /**< Configuration key absent. */
#define VMH_ERR_BUFFER_TOO_SMALL       (-6)
#define VMH_ERR_WRONG_TYPE             (-7)   /**< Configuration value has another type. */
#define VMH_ERR_NO_DRIVER_ATTACHED     (-8)   /**< No driver is configured below that LUN / driver. */
#define VMH_ERR_WRONG_STATE            (-9)   /**< Not allowed now (e.g. set async notification outside a walk). */
#define VMH_ERR_RANGE_CONFLICT         (-10)  /**< Port or MMIO range overlaps another registration. */
#define VMH_ERR_OUT_OF_RANGE           (-11)  /**< Guest-physical access outside guest RAM. */
#define VMH_ERR_VERSION_MISMATCH       (-12)  /**< Host and plugin tables are not compatible. */
#define VMH_ERR_ALREADY_EXISTS         (-13)
#define VMH_ERR_INVALID_NAME           (-14)
#define VMH_ERR_IO                     (-15)
#define VMH_ERR_TIMEOUT                (-16)
#define VMH_ERR_UNKNOWN_CONFIG_KEY     (-17)  /**< Configuration holds a key the plugin does not know. */
#define VMH_ERR_TOO_MANY_INSTANCES     (-18)
#define VMH_ERR_INVALID_VALUE          (-19)  /**< Configuration value has the right type but a bad value. */

/* ============================================================================================================== */
/* Log levels (VMHDevHlp.log / VMHDrvHlp.log)                                                                      */
/* ============================================================================================================== */

#define VMH_LOG_TRACE   0
#define VMH_LOG_DEBUG   1
#define VMH_LOG_INFO    2
#define VMH_LOG_NOTICE  3
#define VMH_LOG_WARNING 4
#define VMH_LOG_ERROR   5

/* ============================================================================================================== */
/* Forward declarations                                                                                            */
/* ============================================================================================================== */

typedef struct VMHDevIns     VMHDevIns;
typedef struct VMHDrvIns     VMHDrvIns;
typedef struct VMHDevHlp     VMHDevHlp;
typedef struct VMHDrvHlp     VMHDrvHlp;
typedef struct VMHDeviceReg  VMHDeviceReg;
typedef struct VMHDriverReg  VMHDriverReg;
typedef struct VMHRegistrar  VMHRegistrar;

/** A reserved callback slot: always NULL in this minor. */
typedef void (*VMHReservedFn)(void);

/* ============================================================================================================== */
/* Device registration                                                                                             */
/* ============================================================================================================== */

/** Device flag: on suspend, notify the device before the drivers on its LUNs (and wait for its async work). */
#define VMH_DEVREG_F_FIRST_SUSPEND   0x00000001u
/** Device flag: on power-off, notify the device before its drivers. */
#define VMH_DEVREG_F_FIRST_POWEROFF  0x00000002u
/** Device flag: on reset, notify the device before its drivers. */
#define VMH_DEVREG_F_FIRST_RESET     0x00000004u
/** Device flag: the device serialises its own callbacks; the host takes no per-instance lock around them. */
#define VMH_DEVREG_F_THREAD_SAFE     0x00000100u
/** Every device flag this ABI minor defines; the host refuses others. */
#define VMH_DEVREG_F_VALID_MASK      0x00000107u

/** Instantiation order (VMHDeviceReg.order): lower values are constructed, powered on and suspended first.
 *  Instances with equal order keep the order of the configuration. A configuration may override it. */
#define VMH_DEVORDER_PLATFORM   100u
#define VMH_DEVORDER_INTERRUPT  200u
#define VMH_DEVORDER_TIMER      300u
#define VMH_DEVORDER_BUS        400u
#define VMH_DEVORDER_STORAGE    1000u
#define VMH_DEVORDER_NETWORK    1100u
#define VMH_DEVORDER_SERIAL     1200u
#define VMH_DEVORDER_MISC       10000u

/** Async poller for a device that called VMHDevHlp.setAsyncNotification: returns true once its work is done. */
typedef bool (*VMHDevAsyncNotify)(VMHDevIns *ins);

/**
 * A device type. The plugin registers it from its entry point; the host keeps the pointer (no copy), so the
 * struct must stay valid and unchanged for the life of the process (use a static const).
 * Every callback except `construct` may be NULL.
 */
struct VMHDeviceReg {
    uint32_t    version;          /**< VMH_DEVREG_VERSION. */
    uint32_t    hlpVersion;       /**< VMH_DEVHLP_VERSION this plugin was compiled against. */
    char        name[VMH_NAME_MAX]; /**< Unique device name, NUL-terminated, [A-Za-z][A-Za-z0-9_-]*. */
    const char *description;      /**< One line for listings; may be NULL. */
    uint32_t    flags;            /**< VMH_DEVREG_F_*. */
    uint32_t    order;            /**< VMH_DEVORDER_* or any value: instantiation order. */
    uint32_t    maxInstances;     /**< How many instances one VM may have; > 0. */
    uint32_t    instanceSize;     /**< Bytes of per-instance data (VMHDevIns.data), zeroed, 64-byte aligned. */

    /** Required. Set up the instance: read configuration, register I/O ranges, attach LUN drivers.
     *  Returns VMH_OK or a VMH_ERR_*; on failure destruct is still called. */
    int   (*construct)(VMHDevIns *ins);
    /** Release what construct acquired. Called once, after all drivers below are destructed. */
    void  (*destruct)(VMHDevIns *ins);
    /** Every device and driver is constructed; last chance to fail VM creation. */
    int   (*initComplete)(VMHDevIns *ins);
    /** The VM is powering on. A failure aborts power-on; instances already powered on are powered off again. */
    int   (*powerOn)(VMHDevIns *ins);
    /** Hard reset. May go async with VMHDevHlp.setAsyncNotification. */
    void  (*reset)(VMHDevIns *ins);
    /** The VM is suspending: stop taking new work and quiesce. May go async. */
    void  (*suspend)(VMHDevIns *ins);
    /** The VM resumes. A failure aborts the resume; instances already resumed are suspended again. */
    int   (*resume)(VMHDevIns *ins);
    /** The VM is powering off (also reached when it was suspended). May go async. */
    void  (*powerOff)(VMHDevIns *ins);
    /** A driver chain was attached to `lun` at run time. */
    int   (*attach)(VMHDevIns *ins, uint32_t lun, uint32_t flags);
    /** The driver chain of `lun` is being detached at run time. */
    void  (*detach)(VMHDevIns *ins, uint32_t lun, uint32_t flags);
    /** Return the interface `iid` that this device offers to the top driver of `lun`, or NULL. */
    void *(*queryInterface)(VMHDevIns *ins, uint32_t lun, const char *iid);

    VMHReservedFn reserved[8];    /**< NULL. Later minors take these slots. */
    uint32_t    versionEnd;       /**< VMH_DEVREG_VERSION again. */
};

/* ============================================================================================================== */
/* Driver registration                                                                                             */
/* ============================================================================================================== */

/** Every driver flag this ABI minor defines (none yet); the host refuses others. */
#define VMH_DRVREG_F_VALID_MASK      0x00000000u

/** Async poller for a driver that called VMHDrvHlp.setAsyncNotification: returns true once its work is done. */
typedef bool (*VMHDrvAsyncNotify)(VMHDrvIns *ins);

/**
 * A driver type. Same lifetime rule as VMHDeviceReg. Every callback except `construct` may be NULL.
 */
struct VMHDriverReg {
    uint32_t    version;          /**< VMH_DRVREG_VERSION. */
    uint32_t    hlpVersion;       /**< VMH_DRVHLP_VERSION this plugin was compiled against. */
    char        name[VMH_NAME_MAX]; /**< Unique driver name, same rules as device names. */
    const char *description;      /**< One line for listings; may be NULL. */
    uint32_t    flags;            /**< VMH_DRVREG_F_* (none defined yet: 0). */
    uint32_t    maxInstances;     /**< Per VM; > 0. */
    uint32_t    instanceSize;     /**< Bytes of per-instance data (VMHDrvIns.data), zeroed, 64-byte aligned. */
    uint32_t    reserved0;        /**< 0. */

    /** Required. Read configuration, open resources, and attach the driver below with VMHDrvHlp.attachBelow
     *  if this driver needs one. On failure the instance is destructed at once. */
    int   (*construct)(VMHDrvIns *ins, uint32_t flags);
    /** Release what construct acquired. Called after the driver below was destructed. */
    void  (*destruct)(VMHDrvIns *ins);
    /** Every device and driver is constructed. */
    int   (*initComplete)(VMHDrvIns *ins);
    int   (*powerOn)(VMHDrvIns *ins);
    void  (*reset)(VMHDrvIns *ins);
    void  (*suspend)(VMHDrvIns *ins);
    int   (*resume)(VMHDrvIns *ins);
    void  (*powerOff)(VMHDrvIns *ins);
    /** A driver was attached below this one at run time. */
    int   (*attach)(VMHDrvIns *ins, uint32_t flags);
    /** The driver below is being detached at run time. */
    void  (*detach)(VMHDrvIns *ins, uint32_t flags);
    /** Return the interface `iid` that this driver offers to the one above it, or NULL. */
    void *(*queryInterface)(VMHDrvIns *ins, const char *iid);

    VMHReservedFn reserved[8];    /**< NULL. */
    uint32_t    versionEnd;       /**< VMH_DRVREG_VERSION again. */
};

/* ============================================================================================================== */
/* Module entry point                                                                                              */
/* ============================================================================================================== */

/**
 * The table the host passes to the entry point. Call registerDevice / registerDriver once for each type this
 * module provides; they return VMH_OK or a VMH_ERR_* (the host also logs why it refused).
 */
struct VMHRegistrar {
    uint32_t    version;          /**< VMH_REGISTRAR_VERSION. */
    uint32_t    abiVersion;       /**< VMH_ABI_VERSION of the host. */
    void       *hostPrivate;      /**< Host's; do not touch. */
    int   (*registerDevice)(const VMHRegistrar *registrar, const VMHDeviceReg *reg);
    int   (*registerDriver)(const VMHRegistrar *registrar, const VMHDriverReg *reg);
    VMHReservedFn reserved[6];
    uint32_t    versionEnd;       /**< VMH_REGISTRAR_VERSION again. */
};

/** The entry point every plugin exports under VMH_PLUGIN_ENTRY_NAME. `hostAbiVersion` is VMH_ABI_VERSION of the
 *  host. Return VMH_OK, or a VMH_ERR_* to refuse loading (the host then discards everything this module
 *  registered). */
typedef int (*VMHPluginEntry)(const VMHRegistrar *registrar, uint32_t hostAbiVersion);

/* ============================================================================================================== */
/* ABI note                                                                                                        */
/* ============================================================================================================== */

/** ELF note (section ".note.vmhost", owner "VMHost", type VMH_NOTE_TYPE_ABI) recording the header versions a
 *  plugin was compiled against, so that the host and `vmhost plugin check` can judge a file before loading it.
 *  Optional: a plugin without it is judged from its registration structs. */
#define VMH_NOTE_NAME        "VMHost"
#define VMH_NOTE_TYPE_ABI    0x564d0001u

typedef struct VMHAbiNoteDesc {
    uint32_t abiVersion;
    uint32_t registrarVersion;
    uint32_t devRegVersion;
    uint32_t devInsVersion;
    uint32_t devHlpVersion;
    uint32_t drvRegVersion;
    uint32_t drvInsVersion;
    uint32_t drvHlpVersion;
} VMHAbiNoteDesc;

typedef struct VMHAbiNote {
    uint32_t       namesz;        /**< 7 ("VMHost" + NUL). */
    uint32_t       descsz;        /**< sizeof(VMHAbiNoteDesc). */
    uint32_t       type;          /**< VMH_NOTE_TYPE_ABI. */
    char           name[8];       /**< "VMHost", padded to 4 bytes. */
    VMHAbiNoteDesc desc;
} VMHAbiNote;

/** Put `VMH_DECLARE_ABI_NOTE()` once in one C file of a plugin to record the versions it was built against. */
#define VMH_DECLARE_ABI_NOTE() \
    __attribute__((section(".note.vmhost"), used, aligned(4))) \
    const VMHAbiNote vmh_abi_note = { 7, sizeof(VMHAbiNoteDesc), VMH_NOTE_TYPE_ABI, "VMHost", \
        { VMH_ABI_VERSION, VMH_REGISTRAR_VERSION, VMH_DEVREG_VERSION, VMH_DEVINS_VERSION, VMH_DEVHLP_VERSION, \
          VMH_DRVREG_VERSION, VMH_DRVINS_VERSION, VMH_DRVHLP_VERSION } }

/* ============================================================================================================== */
/* Instances                                                                                                       */
/* ============================================================================================================== */

/** A device instance. Owned by the host; valid from construct until destruct returns. */
struct VMHDevIns {
    uint32_t            version;   /**< VMH_DEVINS_VERSION. */
    uint32_t            instance;  /**< Instance number among instances of the same device, from 0. */
    const VMHDevHlp    *hlp;       /**< The host's device helpers. */
    const VMHDeviceReg *reg;       /**< The registration this instance was made from. */
    void               *data;      /**< reg->instanceSize zeroed bytes (NULL when the size is 0). */
    const char         *name;      /**< "<device>/<instance>", for messages. */
    void               *hostPrivate; /**< Host's; do not touch. */
    void               *reserved[4];
};

/** A driver instance. Owned by the host; valid from construct until destruct returns. */
struct VMHDrvIns {
    uint32_t            version;   /**< VMH_DRVINS_VERSION. */
    uint32_t            instance;  /**< Instance number among instances of the same driver, from 0. */
    const VMHDrvHlp    *hlp;       /**< The host's driver helpers. */
    const VMHDriverReg *reg;
    void               *data;      /**< reg->instanceSize zeroed bytes (NULL when the size is 0). */
    const char         *name;      /**< "<device>/<inst>/<lun>/<driver>/<inst>", for messages. */
    void               *hostPrivate;
    void               *reserved[4];
};

/** In a device's construct: returns VMH_ERR_VERSION_MISMATCH from the enclosing function unless the host's
 *  instance and helper tables satisfy what this plugin was compiled against. */
#define VMH_DEVINS_CHECK_VERSIONS_RETURN(ins) \
    do { \
        if (!(ins) || !VMH_VERSION_SATISFIES((ins)->version, VMH_DEVINS_VERSION) \
            || !(ins)->hlp || !VMH_VERSION_SATISFIES((ins)->hlp->version, VMH_DEVHLP_VERSION)) \
            return VMH_ERR_VERSION_MISMATCH; \
    } while (0)

/** Driver counterpart of VMH_DEVINS_CHECK_VERSIONS_RETURN. */
#define VMH_DRVINS_CHECK_VERSIONS_RETURN(ins) \
    do { \
        if (!(ins) || !VMH_VERSION_SATISFIES((ins)->version, VMH_DRVINS_VERSION) \
            || !(ins)->hlp || !VMH_VERSION_SATISFIES((ins)->hlp->version, VMH_DRVHLP_VERSION)) \
            return VMH_ERR_VERSION_MISMATCH; \
    } while (0)

/* ============================================================================================================== */
/* VMM callback types                                                                                              */
/* ============================================================================================================== */

/** Guest read of `size` (1, 2 or 4) bytes at `port`. Store the value in *value; return VMH_OK. Unhandled reads
 *  should store all-ones, as an empty bus does. */
typedef int (*VMHIoPortIn)(VMHDevIns *ins, void *user, uint16_t port, uint32_t size, uint32_t *value);
/** Guest write of `size` (1, 2 or 4) bytes at `port`. */
typedef int (*VMHIoPortOut)(VMHDevIns *ins, void *user, uint16_t port, uint32_t size, uint32_t value);
/** Guest read of `size` (1..8) bytes at `offset` into the registered MMIO range; fill `buf`. */
typedef int (*VMHMmioRead)(VMHDevIns *ins, void *user, uint64_t offset, void *buf, uint32_t size);
/** Guest write of `size` (1..8) bytes at `offset` into the registered MMIO range. */
typedef int (*VMHMmioWrite)(VMHDevIns *ins, void *user, uint64_t offset, const void *buf, uint32_t size);
/** A device timer fired (on the host's timer thread, with the instance lock held unless THREAD_SAFE). */
typedef void (*VMHTimerCallback)(VMHDevIns *ins, void *user, uint64_t timer);

/** Why the VM is being suspended (VMHDevHlp.vmSuspend). */
#define VMH_SUSPEND_REASON_USER      1
#define VMH_SUSPEND_REASON_IO_ERROR  2
#define VMH_SUSPEND_REASON_GUEST     3
#define VMH_SUSPEND_REASON_HOST      4

/* ============================================================================================================== */
/* Device helpers                                                                                                  */
/* ============================================================================================================== */

/**
 * Services the host provides to a device instance. Every entry is non-NULL in the host's table; a service the
 * running host cannot provide (e.g. guest memory when no VMM is attached, as in the plugin test kit without one)
 * returns VMH_ERR_NOT_SUPPORTED.
 */
struct VMHDevHlp {
    uint32_t version;                 /**< VMH_DEVHLP_VERSION of the host. */
    uint32_t reserved0;

    /* --- Logging --- */
    /** Log one line (no trailing newline needed) under the instance's name. */
    void (*log)(VMHDevIns *ins, int level, const char *message);

    /* --- Configuration: the instance's `settings` --- */
    /** Fail with VMH_ERR_UNKNOWN_CONFIG_KEY (and a host message naming the key path) if the settings hold a key
     *  not in `allowedKeys`, a '|'-separated list such as "iobase|irq". */
    int (*cfgValidate)(VMHDevIns *ins, const char *allowedKeys);
    /** Copy the string value of `key` (NUL-terminated) into buf. VMH_ERR_NOT_FOUND if absent,
     *  VMH_ERR_BUFFER_TOO_SMALL if it does not fit, VMH_ERR_WRONG_TYPE if not a string. */
    int (*cfgQueryString)(VMHDevIns *ins, const char *key, char *buf, size_t bufSize);
    /** Integer value of `key` (decimal or 0x-hex in the configuration). */
    int (*cfgQueryInteger)(VMHDevIns *ins, const char *key, int64_t *value);
    /** Boolean value of `key`. */
    int (*cfgQueryBool)(VMHDevIns *ins, const char *key, bool *value);
    /** Report a bad configuration value: the host records `message` against the key path of `key` and the
     *  device should then fail construct with VMH_ERR_INVALID_VALUE. */
    int (*cfgError)(VMHDevIns *ins, const char *key, const char *message);

    /* --- LUN driver chains --- */
    /** Construct the driver chain configured below `lun` (top driver first; each driver attaches the one below
     *  it). VMH_ERR_NO_DRIVER_ATTACHED if none is configured. */
    int   (*driverAttach)(VMHDevIns *ins, uint32_t lun);
    /** The interface `iid` of the top driver attached to `lun`, or NULL. */
    void *(*queryLunInterface)(VMHDevIns *ins, uint32_t lun, const char *iid);

    /* --- Async notification (only inside reset / suspend / powerOff) --- */
    /** Ask for more time: the host will call `poller` on later passes until it returns true. Only valid while
     *  the instance's reset, suspend or powerOff callback runs (else VMH_ERR_WRONG_STATE). */
    int   (*setAsyncNotification)(VMHDevIns *ins, VMHDevAsyncNotify poller);
    /** From any thread: the work the poller waits for may be done; wakes the host's walk for another pass. */
    void  (*asyncNotificationCompleted)(VMHDevIns *ins);

    /* --- VMM services --- */
    /** Route guest port I/O in [port, port+count) to in/out (either may be NULL: reads then give all-ones,
     *  writes are dropped). Only during construct. VMH_ERR_RANGE_CONFLICT names the other owner in the log. */
    int   (*ioPortRegister)(VMHDevIns *ins, uint16_t port, uint16_t count, void *user,
                            VMHIoPortIn in, VMHIoPortOut out, const char *description);
    /** Route guest MMIO in [gpa, gpa+size) to read/write. Only during construct. */
    int   (*mmioRegister)(VMHDevIns *ins, uint64_t gpa, uint64_t size, void *user,
                          VMHMmioRead read, VMHMmioWrite write, const char *description);
    /** Copy guest-physical memory into buf. VMH_ERR_OUT_OF_RANGE if any byte lies outside guest RAM. A naturally
     *  aligned read of 1, 2, 4 or 8 bytes is a single load (acquire), so a field the guest updates concurrently
     *  (a ring index) reads as its old or its new value, never a mix; longer copies promise nothing of the kind. */
    int   (*physRead)(VMHDevIns *ins, uint64_t gpa, void *buf, size_t size);
    /** Copy buf into guest-physical memory, bounds-checked like physRead. A naturally aligned write of 1, 2, 4 or
     *  8 bytes is a single store (release: earlier writes, e.g. ring entries, are visible no later than it). */
    int   (*physWrite)(VMHDevIns *ins, uint64_t gpa, const void *buf, size_t size);
    /** Drive ISA/IOAPIC interrupt line `irq` to `level` (0 low, 1 high). */
    int   (*setIrq)(VMHDevIns *ins, uint32_t irq, int level);
    /** Create a one-shot timer; *timer receives its handle. Only during construct. */
    int   (*timerCreate)(VMHDevIns *ins, VMHTimerCallback callback, void *user, const char *description,
                         uint64_t *timer);
    /** Arm `timer` to fire `nanoseconds` from now (re-arming replaces the previous deadline). Timers run on the
     *  VM's device clock, which stands still while the VM is suspended: no timer fires then, and a deadline keeps
     *  the time it had left. */
    int   (*timerArm)(VMHDevIns *ins, uint64_t timer, uint64_t nanoseconds);
    /** Disarm `timer`. */
    int   (*timerStop)(VMHDevIns *ins, uint64_t timer);
    /** Monotonic host clock in nanoseconds. It runs on while the VM is suspended; for the clock timers run on,
     *  use deviceClockNanoseconds (minor 2). */
    uint64_t (*clockNanoseconds)(VMHDevIns *ins);
    /** Ask the VM to power off and the `vmhost` process to exit with `exitStatus` once it is off (used by
     *  debug-exit devices). Returns at once; the power-off happens after the current exit is handled. */
    int   (*vmPowerOff)(VMHDevIns *ins, int exitStatus);
    /** Ask the VM to suspend with reason VMH_SUSPEND_REASON_*. Returns at once. */
    int   (*vmSuspend)(VMHDevIns *ins, int reason);

    /* --- Kernel event bindings (minor 1) --- */
    /** Bind the eventfd `fd` to guest writes of `length` (1, 2, 4 or 8) bytes at `address` in `space`
     *  (VMH_IOEVENT_SPACE_*), so such a write only signals `fd` in the kernel instead of leaving the guest: the
     *  device's own thread waits on `fd` (e.g. a virtqueue notify register). With VMH_IOEVENT_F_DATAMATCH only
     *  writes of `value` signal. VMH_IOEVENT_F_DEASSIGN removes an earlier binding with the same arguments. The
     *  address must lie in a range this device registered. VMH_ERR_NOT_SUPPORTED when the host cannot do it: the
     *  device then keeps handling those writes in its I/O callback. Any thread; the device owns and closes `fd`
     *  (after deassigning it, or after destruct). */
    int   (*ioEventFdRegister)(VMHDevIns *ins, int fd, uint32_t space, uint64_t address, uint32_t length,
                               uint32_t flags, uint64_t value);
    /** Bind the eventfd `fd` to interrupt line `irq`: every signal of `fd` (a write of a non-zero count) injects
     *  one edge on that line in the kernel, without a host call. VMH_IRQFD_F_DEASSIGN removes the binding.
     *  VMH_ERR_NOT_SUPPORTED when the host cannot do it (then use setIrq). Any thread. */
    int   (*irqFdRegister)(VMHDevIns *ins, int fd, uint32_t irq, uint32_t flags);
    /** Append `word` (one word, no spaces, at most 255 bytes, e.g. "virtio_mmio.device=512@0xd0001000:10") to
     *  the guest's kernel command line so that the guest finds this device. Only during construct; the host
     *  appends the words of all devices, in construction order, after the configured command line.
     *  VMH_ERR_NOT_SUPPORTED when the host boots no kernel (e.g. the test kit). */
    int   (*kernelCmdlineAppend)(VMHDevIns *ins, const char *word);

    /* --- The device clock (minor 2) --- */
    /** Store the VM's device clock, in nanoseconds, in *now: the clock timers run on. It counts only the time the
     *  VM was not suspended (it stands still from SUSPENDED until the VM runs again), so a counter a device
     *  derives from it (a PIT count, an HPET main counter, a timestamp register) does not jump at a resume. Its
     *  origin is arbitrary: use differences. Any thread. VMH_ERR_NOT_SUPPORTED when no VMM runs the device,
     *  VMH_ERR_WRONG_STATE once the VM is going away. */
    int   (*deviceClockNanoseconds)(VMHDevIns *ins, uint64_t *now);
    /** Arm `timer` to fire when the device clock reaches `deadline` (a deviceClockNanoseconds value), replacing any
     *  earlier deadline. A deadline already reached fires at once — or, while the VM is suspended, right after the
     *  resume. A periodic device arms each period at the previous deadline plus the period, so its ticks never
     *  drift by the callback's own latency; after a host stall (the process stopped) deadlines already passed fire
     *  back to back, so a device that must not burst re-arms at the first deadline after the current clock
     *  instead. Any thread (see "Threads and locking"). VMH_ERR_INVALID_PARAMETER for a handle this instance did
     *  not create, VMH_ERR_WRONG_STATE once the VM is going away, VMH_ERR_NOT_SUPPORTED when no VMM runs the
     *  device. */
    int   (*timerArmAt)(VMHDevIns *ins, uint64_t timer, uint64_t deadline);

    VMHReservedFn reserved[11];       /**< Later minors take these slots (16 before minor 1, 13 before minor 2). */
    uint32_t versionEnd;              /**< VMH_DEVHLP_VERSION again. */
};

/** VMHDevHlp.ioEventFdRegister spaces. */
#define VMH_IOEVENT_SPACE_PORT   0u
#define VMH_IOEVENT_SPACE_MMIO   1u
/** VMHDevHlp.ioEventFdRegister flags. */
#define VMH_IOEVENT_F_DATAMATCH  0x1u
#define VMH_IOEVENT_F_DEASSIGN   0x2u
/** VMHDevHlp.irqFdRegister flags. */
#define VMH_IRQFD_F_DEASSIGN     0x1u

/* ============================================================================================================== */
/* Driver helpers                                                                                                  */
/* ============================================================================================================== */

/** Services the host provides to a driver instance. Every entry is non-NULL in the host's table. */
struct VMHDrvHlp {
    uint32_t version;                 /**< VMH_DRVHLP_VERSION of the host. */
    uint32_t reserved0;

    void  (*log)(VMHDrvIns *ins, int level, const char *message);

    int   (*cfgValidate)(VMHDrvIns *ins, const char *allowedKeys);
    int   (*cfgQueryString)(VMHDrvIns *ins, const char *key, char *buf, size_t bufSize);
    int   (*cfgQueryInteger)(VMHDrvIns *ins, const char *key, int64_t *value);
    int   (*cfgQueryBool)(VMHDrvIns *ins, const char *key, bool *value);
    int   (*cfgError)(VMHDrvIns *ins, const char *key, const char *message);

    /** Construct the driver configured below this one. VMH_ERR_NO_DRIVER_ATTACHED if none is configured. */
    int   (*attachBelow)(VMHDrvIns *ins, uint32_t flags);
    /** The interface `iid` offered by the driver below, or NULL. */
    void *(*queryBelow)(VMHDrvIns *ins, const char *iid);
    /** The interface `iid` offered by the driver or device above (for the top driver: the device's
     *  queryInterface for this LUN), or NULL. */
    void *(*queryAbove)(VMHDrvIns *ins, const char *iid);

    /** As VMHDevHlp.setAsyncNotification. */
    int   (*setAsyncNotification)(VMHDrvIns *ins, VMHDrvAsyncNotify poller);
    /** As VMHDevHlp.asyncNotificationCompleted; any thread. */
    void  (*asyncNotificationCompleted)(VMHDrvIns *ins);

    /** Monotonic host clock in nanoseconds. */
    uint64_t (*clockNanoseconds)(VMHDrvIns *ins);

    VMHReservedFn reserved[16];
    uint32_t versionEnd;              /**< VMH_DRVHLP_VERSION again. */
};

/* ============================================================================================================== */
/* Standard interfaces between devices and drivers                                                                 */
/* ============================================================================================================== */
/* An interface is a struct of function pointers whose first member `context` the implementer sets; callers pass
 * the interface pointer back as the first argument. Interface ids are strings "vmhost.<name>/<major>". */

/** Byte stream offered by a char driver to the device or driver above it (output towards the host). */
#define VMH_IID_CHAR_CONNECTOR "vmhost.char-connector/1"
typedef struct VMHCharConnector VMHCharConnector;
struct VMHCharConnector {
    void *context;
    /** Queue `size` bytes for output; returns bytes accepted (>= 0) or a VMH_ERR_*. Must not block for long. */
    int64_t (*write)(VMHCharConnector *self, const void *buf, size_t size);
    /** Push queued bytes towards the sink; VMH_OK when all are out. */
    int     (*flush)(VMHCharConnector *self);
};

/** Byte stream offered by the device (or driver) above to the driver below (input towards the guest). */
#define VMH_IID_CHAR_PORT "vmhost.char-port/1"
typedef struct VMHCharPort VMHCharPort;
struct VMHCharPort {
    void *context;
    /** Deliver input bytes; returns bytes accepted (>= 0). */
    int64_t (*receive)(VMHCharPort *self, const void *buf, size_t size);
};

/* --- Block devices ------------------------------------------------------------------------------------------ */
/* A block device (e.g. VirtioBlk) attaches a block driver chain (e.g. Block -> RawFile) to a LUN. Requests go down
 * through VMH_IID_BLOCK_CONNECTOR and complete asynchronously up through the VMH_IID_BLOCK_PORT of the layer
 * above, usually on the bottom driver's I/O thread. */

/** Request operations. */
#define VMH_BLOCK_OP_READ    0u   /**< Read `length` bytes at `offset` into `buffer`. */
#define VMH_BLOCK_OP_WRITE   1u   /**< Write `length` bytes of `buffer` at `offset`. */
#define VMH_BLOCK_OP_FLUSH   2u   /**< Make every write completed before it durable (offset, length 0). */

/** One block request. Owned by the submitter: it stays valid, with its buffer, until its completion was
 *  delivered. Drivers that forward a request down may change nothing but `driverPrivate`, which belongs to the
 *  driver that currently holds the request (save and restore it when stacking). */
typedef struct VMHBlockRequest {
    uint32_t op;             /**< VMH_BLOCK_OP_*. */
    uint32_t reserved0;      /**< 0. */
    uint64_t offset;         /**< Byte offset; a multiple of the sector size (512) for reads and writes. */
    uint64_t length;         /**< Bytes; a multiple of 512 for reads and writes. */
    void    *buffer;         /**< Host memory of `length` bytes. */
    void    *user;           /**< The submitter's cookie, untouched by the drivers. */
    void    *driverPrivate;  /**< Scratch for the driver holding the request. */
    uint64_t reserved[2];    /**< 0. */
} VMHBlockRequest;

/** Offered by a block driver to the device or driver above it. */
#define VMH_IID_BLOCK_CONNECTOR "vmhost.block-connector/1"
typedef struct VMHBlockConnector VMHBlockConnector;
struct VMHBlockConnector {
    void *context;
    /** Medium size in bytes. */
    uint64_t (*size)(VMHBlockConnector *self);
    /** True when writes are refused. */
    bool     (*isReadOnly)(VMHBlockConnector *self);
    /** Queue `request`. VMH_OK: it completes later, exactly once, through the submitter's VMHBlockPort.complete
     *  — never from inside this call. Any other status: refused now (out of range, read-only, suspended…), and
     *  it never completes. Must not block on I/O. Any thread. */
    int      (*submit)(VMHBlockConnector *self, VMHBlockRequest *request);
    /** Requests accepted and not yet completed (including those queued in the drivers below). */
    uint32_t (*inFlight)(VMHBlockConnector *self);
};

/** Offered by a block device (or driver) to the driver below it. */
#define VMH_IID_BLOCK_PORT "vmhost.block-port/1"
typedef struct VMHBlockPort VMHBlockPort;
struct VMHBlockPort {
    void *context;
    /** `request` finished with `status` (VMH_OK or VMH_ERR_IO, VMH_ERR_OUT_OF_RANGE…). Called on the completing
     *  driver's thread; the request belongs to the submitter again once this returns. */
    void (*complete)(VMHBlockPort *self, VMHBlockRequest *request, int status);
};

#ifdef __cplusplus
}
#endif
#endif /* VMHOST_PLUGIN_H */
