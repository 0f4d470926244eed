/*
 * Scratchpad — a register file device for tests and benchmarks, written in plain C against vmhost_plugin.h only.
 *
 * Settings: iobase (default 0x510), mmio-base (default 0xd0000000), irq (default 5).
 *
 * Ports iobase+0..15
 *   +0   32-bit data latch: a write stores, a read returns it; 1- and 2-byte accesses touch the low bytes.
 *   +4   32-bit count of all port writes to the device (read); a write resets it to 0.
 *   +8   doorbell: a write only counts (the cheapest exit, for the exit benchmark); reads 0.
 *   +12  IRQ: a write of v drives the device's IRQ line to v & 1; a read returns the last level.
 *   Other offsets read all-ones; writes there only count.
 * MMIO mmio-base .. +0xfff
 *   0x000-0x0ff  64 x 32-bit scratch registers (byte-addressable; a read returns what was last written).
 *   0x100        32-bit count of all MMIO writes (read only).
 *   0x104        doorbell: a write only counts.
 *   Other offsets read 0; writes there are ignored (but counted).
 *
 * The device sets VMH_DEVREG_F_THREAD_SAFE: every register is a C11 atomic, so the host takes no lock on the
 * exit path and several vCPUs may hit it at once.
 */
#include "vmhost_plugin.h"

#include <stdatomic.h>
#include <stdio.h>

VMH_DECLARE_ABI_NOTE();

#define SCRATCHPAD_PORT_COUNT      16u     /* ports iobase .. iobase+15 */
#define SCRATCHPAD_PORT_LATCH      0u      /* 32-bit data latch */
#define SCRATCHPAD_PORT_COUNTER    4u      /* port write counter (read; a write resets it) */
#define SCRATCHPAD_PORT_DOORBELL   8u      /* any write only counts */
#define SCRATCHPAD_PORT_IRQ        12u     /* write v: IRQ line level = v & 1 */

#define SCRATCHPAD_MMIO_SIZE       0x1000u
#define SCRATCHPAD_MMIO_SCRATCH_END 0x100u /* 0x000..0x0ff: 64 x 32-bit scratch registers */
#define SCRATCHPAD_MMIO_COUNTER    0x100u  /* 32-bit MMIO write counter (read only) */
#define SCRATCHPAD_MMIO_DOORBELL   0x104u  /* any write only counts */

#define SCRATCHPAD_REGISTERS (SCRATCHPAD_MMIO_SCRATCH_END / 4u)

typedef struct Scratchpad {
    uint16_t         iobase;
    uint32_t         irq;
    uint64_t         mmioBase;
    _Atomic uint32_t latch;
    _Atomic uint32_t portWrites;
    _Atomic uint32_t irqLevel;
    _Atomic uint32_t mmioWrites;
    _Atomic uint32_t scratch[SCRATCHPAD_REGISTERS];
} Scratchpad;

/* All-ones of an access of `size` bytes. */
static uint32_t size_mask(uint32_t size) {
    return size >= 4 ? 0xffffffffu : ((1u << (size * 8u)) - 1u);
}

/* Replaces the low `size` bytes of *reg with those of `value`. */
static void store_low_bytes(_Atomic uint32_t *reg, uint32_t size, uint32_t value) {
    uint32_t mask = size_mask(size);
    uint32_t old = atomic_load_explicit(reg, memory_order_relaxed);
    uint32_t desired;
    do {
        desired = (old & ~mask) | (value & mask);
    } while (!atomic_compare_exchange_weak_explicit(reg, &old, desired, memory_order_relaxed,
                                                    memory_order_relaxed));
}

/* Stores one byte at byte offset `offset` of the scratch area. */
static void scratch_store_byte(Scratchpad *sp, uint64_t offset, uint8_t byte) {
    uint32_t shift = (uint32_t)(offset % 4u) * 8u;
    _Atomic uint32_t *reg = &sp->scratch[offset / 4u];
    uint32_t old = atomic_load_explicit(reg, memory_order_relaxed);
    uint32_t desired;
    do {
        desired = (old & ~(0xffu << shift)) | ((uint32_t)byte << shift);
    } while (!atomic_compare_exchange_weak_explicit(reg, &old, desired, memory_order_relaxed,
                                                    memory_order_relaxed));
}

/* The byte a read sees at MMIO offset `offset`. */
static uint8_t mmio_byte(Scratchpad *sp, uint64_t offset) {
    if (offset < SCRATCHPAD_MMIO_SCRATCH_END) {
        uint32_t reg = atomic_load_explicit(&sp->scratch[offset / 4u], memory_order_relaxed);
        return (uint8_t)(reg >> ((offset % 4u) * 8u));
    }
    if (offset >= SCRATCHPAD_MMIO_COUNTER && offset < SCRATCHPAD_MMIO_COUNTER + 4u) {
        uint32_t count = atomic_load_explicit(&sp->mmioWrites, memory_order_relaxed);
        return (uint8_t)(count >> ((offset - SCRATCHPAD_MMIO_COUNTER) * 8u));
    }
    return 0;
}

static Scratchpad *instance_state(VMHDevIns *ins) {
    return ins ? (Scratchpad *)ins->data : NULL;
}

/* ---- Port I/O ------------------------------------------------------------------------------------------------ */

static int port_in(VMHDevIns *ins, void *user, uint16_t port, uint32_t size, uint32_t *value) {
    Scratchpad *sp = user;
    (void)ins;
    if (!sp || !value) return VMH_ERR_INVALID_PARAMETER;
    switch ((uint16_t)(port - sp->iobase)) {
    case SCRATCHPAD_PORT_LATCH:
        *value = atomic_load_explicit(&sp->latch, memory_order_relaxed) & size_mask(size);
        break;
    case SCRATCHPAD_PORT_COUNTER:
        *value = atomic_load_explicit(&sp->portWrites, memory_order_relaxed) & size_mask(size);
        break;
    case SCRATCHPAD_PORT_DOORBELL:
        *value = 0;
        break;
    case SCRATCHPAD_PORT_IRQ:
        *value = atomic_load_explicit(&sp->irqLevel, memory_order_relaxed);
        break;
    default:
        *value = size_mask(size);
        break;
    }
    return VMH_OK;
}

static int port_out(VMHDevIns *ins, void *user, uint16_t port, uint32_t size, uint32_t value) {
    Scratchpad *sp = user;
    if (!sp || !ins) return VMH_ERR_INVALID_PARAMETER;
    switch ((uint16_t)(port - sp->iobase)) {
    case SCRATCHPAD_PORT_LATCH:
        store_low_bytes(&sp->latch, size, value);
        atomic_fetch_add_explicit(&sp->portWrites, 1u, memory_order_relaxed);
        break;
    case SCRATCHPAD_PORT_COUNTER:
        atomic_store_explicit(&sp->portWrites, 0u, memory_order_relaxed);
        break;
    case SCRATCHPAD_PORT_IRQ: {
        uint32_t level = value & 1u;
        atomic_store_explicit(&sp->irqLevel, level, memory_order_relaxed);
        atomic_fetch_add_explicit(&sp->portWrites, 1u, memory_order_relaxed);
        return ins->hlp->setIrq(ins, sp->irq, (int)level);
    }
    default: /* the doorbell and unassigned ports: only count */
        atomic_fetch_add_explicit(&sp->portWrites, 1u, memory_order_relaxed);
        break;
    }
    return VMH_OK;
}

/* ---- MMIO ---------------------------------------------------------------------------------------------------- */

static int mmio_read(VMHDevIns *ins, void *user, uint64_t offset, void *buf, uint32_t size) {
    Scratchpad *sp = user;
    uint8_t *out = buf;
    uint32_t i;
    (void)ins;
    if (!sp || !buf || size < 1 || size > 8) return VMH_ERR_INVALID_PARAMETER;
    for (i = 0; i < size; i++) out[i] = mmio_byte(sp, offset + i);
    return VMH_OK;
}

static int mmio_write(VMHDevIns *ins, void *user, uint64_t offset, const void *buf, uint32_t size) {
    Scratchpad *sp = user;
    const uint8_t *in = buf;
    uint32_t i;
    (void)ins;
    if (!sp || !buf || size < 1 || size > 8) return VMH_ERR_INVALID_PARAMETER;
    for (i = 0; i < size; i++) {
        if (offset + i < SCRATCHPAD_MMIO_SCRATCH_END) scratch_store_byte(sp, offset + i, in[i]);
    }
    atomic_fetch_add_explicit(&sp->mmioWrites, 1u, memory_order_relaxed);
    return VMH_OK;
}

/* ---- Construct ----------------------------------------------------------------------------------------------- */

/* Integer setting `key`, `fallback` when absent; VMH_OK or the host's error. */
static int query_integer(VMHDevIns *ins, const char *key, int64_t fallback, int64_t *value) {
    int rc = ins->hlp->cfgQueryInteger(ins, key, value);
    if (rc == VMH_ERR_NOT_FOUND) {
        *value = fallback;
        return VMH_OK;
    }
    if (rc == VMH_ERR_WRONG_TYPE) ins->hlp->cfgError(ins, key, "must be an integer");
    return rc;
}

static int construct(VMHDevIns *ins) {
    Scratchpad *sp;
    int64_t iobase, mmioBase, irq;
    uint32_t i;
    int rc;

    VMH_DEVINS_CHECK_VERSIONS_RETURN(ins);
    sp = instance_state(ins);
    if (!sp) return VMH_ERR_GENERAL;

    rc = ins->hlp->cfgValidate(ins, "iobase|mmio-base|irq");
    if (rc != VMH_OK) return rc;
    if ((rc = query_integer(ins, "iobase", 0x510, &iobase)) != VMH_OK) return rc;
    if ((rc = query_integer(ins, "mmio-base", 0xd0000000, &mmioBase)) != VMH_OK) return rc;
    if ((rc = query_integer(ins, "irq", 5, &irq)) != VMH_OK) return rc;
    if (iobase < 0 || iobase > 0x10000 - (int64_t)SCRATCHPAD_PORT_COUNT) {
        ins->hlp->cfgError(ins, "iobase", "must be 0..0xfff0 (the device has 16 ports)");
        return VMH_ERR_INVALID_VALUE;
    }
    if (mmioBase < 0 || (mmioBase & 0xfff) != 0 || mmioBase > INT64_MAX - (int64_t)SCRATCHPAD_MMIO_SIZE) {
        ins->hlp->cfgError(ins, "mmio-base", "must be a 4 KiB aligned guest-physical address");
        return VMH_ERR_INVALID_VALUE;
    }
    if (irq < 0 || irq > 23) {
        ins->hlp->cfgError(ins, "irq", "must be 0..23");
        return VMH_ERR_INVALID_VALUE;
    }

    sp->iobase = (uint16_t)iobase;
    sp->irq = (uint32_t)irq;
    sp->mmioBase = (uint64_t)mmioBase;
    atomic_init(&sp->latch, 0u);
    atomic_init(&sp->portWrites, 0u);
    atomic_init(&sp->irqLevel, 0u);
    atomic_init(&sp->mmioWrites, 0u);
    for (i = 0; i < SCRATCHPAD_REGISTERS; i++) atomic_init(&sp->scratch[i], 0u);

    rc = ins->hlp->ioPortRegister(ins, sp->iobase, SCRATCHPAD_PORT_COUNT, sp, port_in, port_out, "scratchpad ports");
    if (rc != VMH_OK) {
        char message[96];
        snprintf(message, sizeof message, "registering ports 0x%x..0x%x failed (%d)", (unsigned)sp->iobase,
                 (unsigned)sp->iobase + SCRATCHPAD_PORT_COUNT - 1u, rc);
        ins->hlp->log(ins, VMH_LOG_ERROR, message);
        return rc;
    }
    rc = ins->hlp->mmioRegister(ins, sp->mmioBase, SCRATCHPAD_MMIO_SIZE, sp, mmio_read, mmio_write,
                                "scratchpad MMIO");
    if (rc != VMH_OK) {
        char message[96];
        snprintf(message, sizeof message, "registering MMIO 0x%llx size 0x%x failed (%d)",
                 (unsigned long long)sp->mmioBase, SCRATCHPAD_MMIO_SIZE, rc);
        ins->hlp->log(ins, VMH_LOG_ERROR, message);
        return rc;
    }
    return VMH_OK;
}

/* ---- Registration -------------------------------------------------------------------------------------------- */

static const VMHDeviceReg scratchpad_reg = {
    .version = VMH_DEVREG_VERSION,
    .hlpVersion = VMH_DEVHLP_VERSION,
    .name = "Scratchpad",
    .description = "Register file for tests and benchmarks (latch, counters, doorbells, IRQ, MMIO scratch)",
    .flags = VMH_DEVREG_F_THREAD_SAFE,
    .order = VMH_DEVORDER_MISC,
    .maxInstances = 4,
    .instanceSize = sizeof(Scratchpad),
    .construct = construct,
    .versionEnd = VMH_DEVREG_VERSION,
};

__attribute__((visibility("default")))
int vmhost_plugin_register(const VMHRegistrar *registrar, uint32_t hostAbiVersion) {
    if (!registrar) return VMH_ERR_INVALID_PARAMETER;
    if (!VMH_VERSION_SATISFIES(hostAbiVersion, VMH_ABI_VERSION)
        || registrar->version != registrar->versionEnd
        || !VMH_VERSION_SATISFIES(registrar->version, VMH_REGISTRAR_VERSION))
        return VMH_ERR_VERSION_MISMATCH;
    return registrar->registerDevice(registrar, &scratchpad_reg);
}
