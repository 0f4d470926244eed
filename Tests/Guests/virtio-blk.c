/*
 * virtio-blk: a polling virtio-blk driver (virtio-mmio, modern, one split virtqueue) in ring 3. It finds the
 * device from the kernel command line word `virtio_mmio.device=<size>@<addr>:<irq>` (Linux's convention), writes
 * a pattern over many requests with several in flight, flushes, reads everything back and verifies it. Prints
 * `virtio-blk: PASS requests=<n> bytes=<b>` (DebugExit 0, status 1) or `virtio-blk: FAIL <what> got=<x>
 * want=<y>` (DebugExit 1, status 3) on COM1.
 *
 *   virtio_mmio.device=512@0xd0001000:10   required
 *   op=verify|write|read   verify (default): write, flush, read, compare; write: only write (+ flush);
 *                          read: only read (benchmarks; data not checked)
 *   blocks=N      requests per phase (default 256)
 *   bs=B          bytes per request, a multiple of 512 up to 131072 (default 4096)
 *   depth=D       requests in flight (default 16, at most 32)
 *   start=S       first sector (default 0)
 *   seed=X        pattern seed (default 0x5eed)
 *   repeat=R      write/read phases run R times (default 1) — for long runs (suspend / power-off tests)
 *   hang=1        after the first write phase and its flush, print `virtio-blk: flushed writes=<n>` and spin
 *                 forever (a host can then kill itself hard and check the data)
 *   interrupts=1  route the device's IRQ (IOAPIC pin <irq>, edge) to a ring-0 handler that counts and writes
 *                 InterruptACK; prints `virtio-blk: interrupts=<n>` after PASS (the driver still polls)
 *   fill=0        do not write the pattern into the buffers before each write (benchmarks; implies no check)
 *
 * Each 32-bit word w of sector s holds (s << 12) ^ (w * 0x9e3779b1) ^ seed. The number of write requests the
 * device acknowledged so far is kept as a u64 at STATUS_PAGE (0x10000) and the acknowledged sector count at
 * 0x10008, so a host can check after a power-off that every acknowledged write reached the disk.
 */
#include "guest.h"

#define R_MAGIC        0x000
#define R_VERSION      0x004
#define R_DEVICE_ID    0x008
#define R_DEV_FEAT     0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT     0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL    0x030
#define R_QUEUE_MAX    0x034
#define R_QUEUE_NUM    0x038
#define R_QUEUE_READY  0x044
#define R_NOTIFY       0x050
#define R_INT_STATUS   0x060
#define R_INT_ACK      0x064
#define R_STATUS       0x070
#define R_DESC_LO      0x080
#define R_DESC_HI      0x084
#define R_AVAIL_LO     0x090
#define R_AVAIL_HI     0x094
#define R_USED_LO      0x0a0
#define R_USED_HI      0x0a4
#define R_CONFIG       0x100

#define QSIZE          128
#define MAX_DEPTH      32
#define MAX_BS         131072
#define RING_BASE      0x400000ULL          /* descriptors; avail +0x1000; used +0x2000; headers +0x3000 */
#define DATA_BASE      0x800000ULL          /* MAX_DEPTH buffers of MAX_BS */

struct desc { u64 addr; u32 len; u16 flags; u16 next; };
struct req_header { u32 type; u32 reserved; u64 sector; };

static u64 base;
static volatile struct desc *descs;
static volatile u16 *avail;                  /* flags, idx, ring[QSIZE] */
static volatile u16 *used_idx;               /* used ring: flags, idx, then {u32 id, u32 len}[QSIZE] */
static volatile u32 *used_ring;
static volatile struct req_header *headers;
static volatile u8 *statuses;
static u16 avail_idx, used_seen;
static u64 seed, bs, depth;
static u64 slot_sector[MAX_DEPTH];
static u32 slot_type[MAX_DEPTH];
static int slot_busy[MAX_DEPTH];
static int verifying, filling;
static u64 requests, bytes;

/* Interrupt handler (ring 0): count, acknowledge the device (InterruptStatus -> InterruptACK), LAPIC EOI. */
volatile u32 vblk_irq_count;
u64 vblk_base;
void vblk_irq_handler(void);
__asm__(
    "    .text\n"
    "    .globl vblk_irq_handler\n"
    "vblk_irq_handler:\n"
    "    pushq %rax\n"
    "    pushq %rdx\n"
    "    incl vblk_irq_count(%rip)\n"
    "    movq vblk_base(%rip), %rdx\n"
    "    movl 0x60(%rdx), %eax\n"
    "    movl %eax, 0x64(%rdx)\n"
    "    movl $0xfee000b0, %eax\n"
    "    movl $0, (%rax)\n"
    "    popq %rdx\n"
    "    popq %rax\n"
    "    iretq\n");

static u32 reg(u32 off) { return mmio_read32(base + off); }
static void set_reg(u32 off, u32 v) { mmio_write32(base + off, v); }
static void barrier(void) { __asm__ volatile("mfence" ::: "memory"); }

static void fail(const char *what, u64 got, u64 want)
{
    com1_puts("virtio-blk: FAIL ");
    com1_puts(what);
    com1_puts(" got=");
    com1_puthex(got);
    com1_puts(" want=");
    com1_puthex(want);
    com1_putc('\n');
    debug_exit(1);
}

static u64 parse_hex_or_dec(const char *s, unsigned len, unsigned *used)
{
    u64 v = 0;
    unsigned i = 0;
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (i = 2; i < len; i++) {
            char c = s[i];
            unsigned d;
            if (c >= '0' && c <= '9') d = c - '0';
            else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
            else break;
            v = v * 16 + d;
        }
    } else {
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) v = v * 10 + (s[i] - '0');
    }
    *used = i;
    return v;
}

/* virtio_mmio.device=<size>@<addr>:<irq> → base address (and *irq). */
static u64 find_device_irq(unsigned *irq);
static u64 find_device(void)
{
    unsigned irq;
    return find_device_irq(&irq);
}

static void ioapic_write(u32 index, u32 value)
{
    mmio_write32(0xfec00000, index);
    mmio_write32(0xfec00010, value);
}

void guest_kernel_init(void)
{
    if (!arg_u64("interrupts", 0)) return;
    unsigned pin;
    vblk_base = find_device_irq(&pin);
    if (pin > 23) return;
    user_rflags |= 0x200;                               /* IF=1 in ring 3 */
    idt_set_gate(0x20 + pin, vblk_irq_handler);
    mmio_write32(LAPIC_BASE + 0x350, 0x10000);          /* mask LINT0 */
    mmio_write32(LAPIC_BASE + 0x0f0, 0x1ff);            /* software-enable the LAPIC */
    ioapic_write(0x10 + 2 * pin + 1, 0);                /* destination APIC 0 */
    ioapic_write(0x10 + 2 * pin, 0x20 + pin);           /* fixed, physical, active high, edge, unmasked */
}

static u64 find_device_irq(unsigned *irq)
{
    const char *val;
    unsigned len, used;
    if (!arg_find("virtio_mmio.device", &val, &len)) fail("no-virtio_mmio.device-on-cmdline", 0, 1);
    unsigned at = 0;
    while (at < len && val[at] != '@') at++;
    if (at + 1 >= len) fail("bad-virtio_mmio.device", at, len);
    u64 addr = parse_hex_or_dec(val + at + 1, len - at - 1, &used);
    if (used == 0) fail("bad-virtio_mmio.device-address", 0, 1);
    unsigned colon = at + 1 + used;
    *irq = 0xff;
    if (colon + 1 < len && val[colon] == ':') *irq = (unsigned)parse_hex_or_dec(val + colon + 1, len - colon - 1, &used);
    return addr;
}

static u32 pattern_word(u64 sector, u32 w) { return (u32)(sector << 12) ^ (w * 0x9e3779b1u) ^ (u32)seed; }

static void fill(u64 slot, u64 sector)
{
    volatile u32 *p = (volatile u32 *)(DATA_BASE + slot * MAX_BS);
    for (u64 s = 0; s < bs / 512; s++)
        for (u32 w = 0; w < 128; w++) p[s * 128 + w] = pattern_word(sector + s, w);
}

static void check(u64 slot, u64 sector)
{
    volatile u32 *p = (volatile u32 *)(DATA_BASE + slot * MAX_BS);
    for (u64 s = 0; s < bs / 512; s++)
        for (u32 w = 0; w < 128; w++)
            if (p[s * 128 + w] != pattern_word(sector + s, w)) fail("data", p[s * 128 + w], pattern_word(sector + s, w));
}

/* Takes one completion off the used ring if there is one; returns 1 if it did. */
static int reap(void)
{
    barrier();
    if (*used_idx == used_seen) return 0;
    u32 id = used_ring[2 * (used_seen % QSIZE)];
    used_seen++;
    u64 slot = id / 3;
    if (id % 3 != 0 || slot >= depth || !slot_busy[slot]) fail("used-id", id, slot * 3);
    if (statuses[slot] != 0) fail("status", statuses[slot], 0);
    slot_busy[slot] = 0;
    requests++;
    if (slot_type[slot] == 1) {
        bytes += bs;
        ((volatile u64 *)STATUS_PAGE)[0] += 1;
        ((volatile u64 *)STATUS_PAGE)[1] = slot_sector[slot] + bs / 512;   /* highest acknowledged end */
    } else if (slot_type[slot] == 0) {
        bytes += bs;
        if (verifying) check(slot, slot_sector[slot]);
    }
    return 1;
}

static void submit(u64 slot, u32 type, u64 sector)
{
    u16 d = (u16)(slot * 3);
    headers[slot].type = type;
    headers[slot].reserved = 0;
    headers[slot].sector = sector;
    statuses[slot] = 0xff;
    slot_sector[slot] = sector;
    slot_type[slot] = type;
    slot_busy[slot] = 1;
    descs[d].addr = (u64)&headers[slot];
    descs[d].len = 16;
    descs[d].flags = 1;
    descs[d].next = d + 1;
    u16 s = d + 1;
    if (type == 0 || type == 1) {
        descs[d + 1].addr = DATA_BASE + slot * MAX_BS;
        descs[d + 1].len = (u32)bs;
        descs[d + 1].flags = 1 | (type == 0 ? 2 : 0);
        descs[d + 1].next = d + 2;
        s = d + 2;
    } else {
        descs[d].next = d + 2;
        s = d + 2;
    }
    descs[s].addr = (u64)&statuses[slot];
    descs[s].len = 1;
    descs[s].flags = 2;
    descs[s].next = 0;
    avail[2 + (avail_idx % QSIZE)] = d;
    barrier();
    avail_idx++;
    avail[1] = avail_idx;
    barrier();
    set_reg(R_NOTIFY, 0);
}

static u64 free_slot(void)
{
    for (;;) {
        for (u64 s = 0; s < depth; s++)
            if (!slot_busy[s]) return s;
        if (!reap()) cpu_relax();
    }
}

static void drain(void)
{
    for (;;) {
        int busy = 0;
        for (u64 s = 0; s < depth; s++) busy |= slot_busy[s];
        if (!busy) return;
        if (!reap()) cpu_relax();
    }
}

static void phase(u32 type, u64 start, u64 blocks)
{
    for (u64 i = 0; i < blocks; i++) {
        u64 slot = free_slot();
        u64 sector = start + i * (bs / 512);
        if (type == 1 && filling) fill(slot, sector);
        submit(slot, type, sector);
    }
    drain();
}

int guest_main(unsigned cpu)
{
    if (cpu != 0) return 0;
    base = find_device();
    if (reg(R_MAGIC) != 0x74726976) fail("magic", reg(R_MAGIC), 0x74726976);
    if (reg(R_VERSION) != 2) fail("version", reg(R_VERSION), 2);
    if (reg(R_DEVICE_ID) != 2) fail("device-id", reg(R_DEVICE_ID), 2);

    set_reg(R_STATUS, 0);
    set_reg(R_STATUS, 1);
    set_reg(R_STATUS, 1 | 2);
    set_reg(R_DEV_FEAT_SEL, 1);
    if (!(reg(R_DEV_FEAT) & 1)) fail("no-VERSION_1", reg(R_DEV_FEAT), 1);
    set_reg(R_DEV_FEAT_SEL, 0);
    u32 low = reg(R_DEV_FEAT) & (1u << 9);      /* FLUSH if offered */
    set_reg(R_DRV_FEAT_SEL, 0);
    set_reg(R_DRV_FEAT, low);
    set_reg(R_DRV_FEAT_SEL, 1);
    set_reg(R_DRV_FEAT, 1);
    set_reg(R_STATUS, 1 | 2 | 8);
    if (!(reg(R_STATUS) & 8)) fail("features-ok", reg(R_STATUS), 8);

    set_reg(R_QUEUE_SEL, 0);
    if (reg(R_QUEUE_MAX) < QSIZE) fail("queue-max", reg(R_QUEUE_MAX), QSIZE);
    descs = (volatile struct desc *)RING_BASE;
    avail = (volatile u16 *)(RING_BASE + 0x1000);
    used_idx = (volatile u16 *)(RING_BASE + 0x2000 + 2);
    used_ring = (volatile u32 *)(RING_BASE + 0x2000 + 4);
    headers = (volatile struct req_header *)(RING_BASE + 0x3000);
    statuses = (volatile u8 *)(RING_BASE + 0x3800);
    memset((void *)RING_BASE, 0, 0x4000);
    set_reg(R_QUEUE_NUM, QSIZE);
    set_reg(R_DESC_LO, (u32)RING_BASE);
    set_reg(R_DESC_HI, 0);
    set_reg(R_AVAIL_LO, (u32)(RING_BASE + 0x1000));
    set_reg(R_AVAIL_HI, 0);
    set_reg(R_USED_LO, (u32)(RING_BASE + 0x2000));
    set_reg(R_USED_HI, 0);
    set_reg(R_QUEUE_READY, 1);
    if (reg(R_QUEUE_READY) != 1) fail("queue-ready", reg(R_QUEUE_READY), 1);
    set_reg(R_STATUS, 1 | 2 | 8 | 4);

    u64 capacity = reg(R_CONFIG) | ((u64)reg(R_CONFIG + 4) << 32);
    u64 blocks = arg_u64("blocks", 256);
    bs = arg_u64("bs", 4096);
    depth = arg_u64("depth", 16);
    seed = arg_u64("seed", 0x5eed);
    u64 start = arg_u64("start", 0);
    u64 repeat = arg_u64("repeat", 1);
    if (bs == 0 || bs % 512 || bs > MAX_BS) fail("bs", bs, 4096);
    if (depth == 0 || depth > MAX_DEPTH) fail("depth", depth, 16);
    if (start + blocks * (bs / 512) > capacity) fail("disk-too-small", capacity, start + blocks * (bs / 512));
    int do_write = !arg_is("op", "read");
    int do_read = !arg_is("op", "write");
    filling = arg_u64("fill", 1) != 0;
    verifying = !arg_is("op", "read") && filling;
    ((volatile u64 *)STATUS_PAGE)[0] = 0;
    ((volatile u64 *)STATUS_PAGE)[1] = 0;

    for (u64 r = 0; r < repeat; r++) {
        if (do_write) {
            phase(1, start, blocks);
            if (low) {
                submit(0, 4, 0);
                drain();
            }
            if (arg_u64("hang", 0)) {
                com1_puts("virtio-blk: flushed writes=");
                com1_putu(((volatile u64 *)STATUS_PAGE)[0]);
                com1_putc('\n');
                for (;;) cpu_relax();
            }
        }
        if (do_read) phase(0, start, blocks);
    }
    com1_puts("virtio-blk: PASS requests=");
    com1_putu(requests);
    com1_puts(" bytes=");
    com1_putu(bytes);
    com1_putc('\n');
    if (arg_u64("interrupts", 0)) {
        com1_puts("virtio-blk: interrupts=");
        com1_putu(vblk_irq_count);
        com1_putc('\n');
    }
    return 0;
}
