/*
 * kvm_floor: the smallest possible KVM VMM loop, used as the performance floor for VMHost and as a
 * test bench for the PVH test guests in Tests/Guests.
 *
 *   kvm_floor [--cpus N] [--mem MiB] [--seconds S] [--ioeventfd] [--timing] [--cmdline "k=v ..."] guest.elf
 *
 * Loads a PVH ELF64 image (PT_LOAD segments at p_paddr, entry from the XEN_ELFNOTE_PHYS32_ENTRY note),
 * builds hvm_start_info (cmdline + e820 map), creates an in-kernel irqchip + PIT, one memory slot and
 * N vCPUs (one thread each), and answers PIO/MMIO exits with a plain switch:
 *   COM1 0x3f8..0x3ff  THR → stdout (line buffered), LSR reads 0x60, other reads 0
 *   DebugExit 0x501    write v → process exit status (v << 1) | 1
 *   Scratchpad 0x510   latch / write counter / doorbell / irq; MMIO 0xd0000000 registers, counter, doorbell
 * With the io-exits guest it prints `floor: <pio|mmio> ring<r> exits/s = <N>`, measured from the first
 * doorbell exit to the DebugExit write, plus a `cpu-time` line computed from the vCPU thread's CPU time
 * (guest + host, robust against other jobs competing for the cores).  With --ioeventfd both doorbells (4-byte writes) are bound to an
 * eventfd in the kernel instead, so they never reach this loop; it then prints
 * `floor: <mode> ring<r> ioeventfd exits/s = <N>` from the eventfd count over the time from vCPU start to
 * DebugExit (includes the guest boot, ~ms).  With --seconds S it stops after S seconds and prints the status
 * page of the test guests (magic, ring-3 count, per-CPU counters); exit status 0.  With --timing it prints
 * (stderr) the times from main() to vCPU start, to the first COM1 byte and to DebugExit.
 * Other exit statuses: 2 usage/setup error, 3 guest shutdown (triple fault), 4 KVM internal error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CPUS        64
#define START_INFO_ADDR 0x6000      /* hvm_start_info, then the memory map right after it */
#define CMDLINE_ADDR    0x7000      /* up to 4 KiB (the guests use 0x8000 for their AP trampoline) */
#define CMDLINE_MAX     4095
#define TSS_ADDR        0xfffbd000
#define IDMAP_ADDR      0xfffbc000

#define COM1            0x3f8
#define DEBUG_EXIT      0x501
#define SCRATCH_PORT    0x510
#define SCRATCH_MMIO    0xd0000000ULL
#define STATUS_PAGE     0x10000

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
};
struct hvm_memmap_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};

struct vcpu {
    int index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    uint64_t pio_doorbells, mmio_doorbells;
    struct timespec first_doorbell;
    struct timespec cpu_start, cpu_first_doorbell;  /* CLOCK_THREAD_CPUTIME_ID of this vCPU thread */
};

static int vm_fd, kvm_fd;
static uint8_t *guest_mem;
static uint64_t mem_size;
static struct vcpu vcpus[MAX_CPUS];
static int ncpus = 1;
static const char *cmdline = "";
static size_t run_size;
static int doorbell_eventfd = -1;
static struct timespec vcpus_started, main_started, first_serial_byte;
static int timing, serial_seen;

/* Scratchpad state (shared by all vCPUs; the guests never race on it). */
static uint32_t sp_latch, sp_port_writes, sp_mmio_writes;
static uint8_t sp_regs[256];

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static char line[4096];
static size_t line_len;

static void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "floor: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(status);
}

static void flush_line(void)
{
    if (line_len) {
        fwrite(line, 1, line_len, stdout);
        line_len = 0;
    }
    fflush(stdout);
}

static void com1_out(uint8_t c)
{
    pthread_mutex_lock(&out_lock);
    if (!serial_seen) {
        serial_seen = 1;
        clock_gettime(CLOCK_MONOTONIC, &first_serial_byte);
    }
    line[line_len++] = (char)c;
    if (c == '\n' || line_len == sizeof(line))
        flush_line();
    pthread_mutex_unlock(&out_lock);
}

static double elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) * 1e-9;
}

/* Value of key=value in the command line (for the report only), or dflt. */
static long cmdline_num(const char *key, long dflt)
{
    size_t kl = strlen(key);
    for (const char *p = cmdline; (p = strstr(p, key)) != NULL; p += kl)
        if ((p == cmdline || p[-1] == ' ') && p[kl] == '=')
            return strtol(p + kl + 1, NULL, 0);
    return dflt;
}

static void debug_exit(struct vcpu *v, uint32_t value)
{
    struct timespec now, cpu_now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_now);
    pthread_mutex_lock(&out_lock);
    flush_line();
    if (timing)
        fprintf(stderr, "floor: timing vcpu-start=%.3f ms first-serial=%.3f ms debug-exit=%.3f ms (from main)\n",
                elapsed(&main_started, &vcpus_started) * 1e3,
                serial_seen ? elapsed(&main_started, &first_serial_byte) * 1e3 : -1.0,
                elapsed(&main_started, &now) * 1e3);
    uint64_t events = 0;
    if (doorbell_eventfd >= 0 && read(doorbell_eventfd, &events, sizeof(events)) == sizeof(events) && events >= 1000) {
        double s = elapsed(&vcpus_started, &now);
        const char *mode = strstr(cmdline, "mode=mmio") ? "mmio" : "pio";
        long ring = cmdline_num("ring", 3);
        printf("floor: %s ring%ld ioeventfd exits/s = %.0f\n", mode, ring, (double)events / s);
        printf("floor: %s ring%ld ioeventfd cpu-time exits/s = %.0f\n", mode, ring,
               (double)events / elapsed(&v->cpu_start, &cpu_now));
        fprintf(stderr, "floor: %llu ioeventfd doorbells in %.3f s since vCPU start (%.2f us/exit)\n",
                (unsigned long long)events, s, s * 1e6 / (double)events);
    }
    uint64_t n = v->pio_doorbells + v->mmio_doorbells;
    if (n >= 1000) {   /* the io-exits guest; a few doorbells (device-io) are not a measurement */
        double s = elapsed(&v->first_doorbell, &now);
        const char *mode = v->pio_doorbells ? "pio" : "mmio";
        long ring = cmdline_num("ring", 3);
        printf("floor: %s ring%ld exits/s = %.0f\n", mode, ring, (double)n / s);
        printf("floor: %s ring%ld cpu-time exits/s = %.0f\n", mode, ring,
               (double)n / elapsed(&v->cpu_first_doorbell, &cpu_now));
        fprintf(stderr, "floor: %llu doorbell exits in %.3f s (%.2f us/exit)\n",
                (unsigned long long)n, s, s * 1e6 / (double)n);
    }
    fflush(stdout);
    exit((int)(((value & 0xff) << 1) | 1));
}

static void dump_regs(struct vcpu *v)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_REGS, &r) == 0 && ioctl(v->fd, KVM_GET_SREGS, &s) == 0)
        fprintf(stderr, "floor: vcpu%d rip=%#llx rsp=%#llx rflags=%#llx cs=%#x cr0=%#llx cr3=%#llx cr4=%#llx efer=%#llx\n",
                v->index, r.rip, r.rsp, r.rflags, s.cs.selector, s.cr0, s.cr3, s.cr4, s.efer);
}

static inline uint32_t load_le(const uint8_t *d, unsigned size)
{
    uint32_t x = 0;
    memcpy(&x, d, size > 4 ? 4 : size);
    return x;
}

static void pio(struct vcpu *v, uint16_t port, int out, unsigned size, uint8_t *data)
{
    if (port == SCRATCH_PORT + 8) {                 /* doorbell: the benchmarked path */
        if (out) {
            if (v->pio_doorbells++ == 0) {
                clock_gettime(CLOCK_MONOTONIC, &v->first_doorbell);
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &v->cpu_first_doorbell);
            }
            sp_port_writes++;
        } else {
            memset(data, 0, size);
        }
        return;
    }
    if (port >= COM1 && port < COM1 + 8) {
        if (out) {
            if (port == COM1)
                com1_out(data[0]);
        } else {
            memset(data, 0, size);
            if (port == COM1 + 5)
                data[0] = 0x60;
        }
        return;
    }
    if (port == DEBUG_EXIT || port == DEBUG_EXIT + 1) {
        if (out)
            debug_exit(v, load_le(data, size));
        memset(data, 0xff, size);
        return;
    }
    if (port >= SCRATCH_PORT && port < SCRATCH_PORT + 16) {
        unsigned reg = (port - SCRATCH_PORT) & ~3u;
        if (out) {
            uint32_t x = load_le(data, size);
            if (reg == 0) {
                uint32_t mask = size >= 4 ? 0xffffffffu : ((1u << (8 * size)) - 1);
                sp_latch = (sp_latch & ~mask) | (x & mask);
            }
            if (reg == 4) {
                sp_port_writes = 0;
            } else {
                sp_port_writes++;
                if (reg == 12) {
                    struct kvm_irq_level irq = { .irq = 5, .level = x & 1 };
                    ioctl(vm_fd, KVM_IRQ_LINE, &irq);
                }
            }
        } else {
            uint32_t x = reg == 0 ? sp_latch : reg == 4 ? sp_port_writes : 0;
            memcpy(data, &x, size > 4 ? 4 : size);
        }
        return;
    }
    if (!out)
        memset(data, 0xff, size);
}

static void mmio(struct vcpu *v, uint64_t addr, int write, unsigned len, uint8_t *data)
{
    if (addr >= SCRATCH_MMIO && addr < SCRATCH_MMIO + 0x1000) {
        uint64_t off = addr - SCRATCH_MMIO;
        if (write) {
            sp_mmio_writes++;
            if (off == 0x104) {
                if (v->mmio_doorbells++ == 0) {
                    clock_gettime(CLOCK_MONOTONIC, &v->first_doorbell);
                    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &v->cpu_first_doorbell);
                }
            } else if (off + len <= sizeof(sp_regs)) {
                memcpy(sp_regs + off, data, len);
            }
        } else {
            memset(data, 0, len);
            if (off + len <= sizeof(sp_regs))
                memcpy(data, sp_regs + off, len);
            else if (off == 0x100)
                memcpy(data, &sp_mmio_writes, len > 4 ? 4 : len);
        }
        return;
    }
    if (!write)
        memset(data, 0xff, len);
}

static void *vcpu_loop(void *arg)
{
    struct vcpu *v = arg;
    struct kvm_run *run = v->run;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &v->cpu_start);
    for (;;) {
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            die(4, "vcpu%d: KVM_RUN: %s", v->index, strerror(errno));
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t *d = (uint8_t *)run + run->io.data_offset;
            for (uint32_t i = 0; i < run->io.count; i++, d += run->io.size)
                pio(v, run->io.port, run->io.direction == KVM_EXIT_IO_OUT, run->io.size, d);
            break;
        }
        case KVM_EXIT_MMIO:
            mmio(v, run->mmio.phys_addr, run->mmio.is_write, run->mmio.len, run->mmio.data);
            break;
        case KVM_EXIT_SHUTDOWN:
            pthread_mutex_lock(&out_lock);
            flush_line();
            fprintf(stderr, "floor: vcpu%d shutdown (triple fault)\n", v->index);
            dump_regs(v);
            exit(3);
        case KVM_EXIT_HLT:
            pthread_mutex_lock(&out_lock);
            flush_line();
            fprintf(stderr, "floor: vcpu%d halted\n", v->index);
            exit(3);
        case KVM_EXIT_INTERNAL_ERROR:
            pthread_mutex_lock(&out_lock);
            flush_line();
            fprintf(stderr, "floor: vcpu%d internal error, suberror %u, ndata %u:", v->index,
                    run->internal.suberror, run->internal.ndata);
            for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
                fprintf(stderr, " %#llx", (unsigned long long)run->internal.data[i]);
            fprintf(stderr, "\n");
            dump_regs(v);
            exit(4);
        case KVM_EXIT_FAIL_ENTRY:
            die(4, "vcpu%d: entry failure, reason %#llx", v->index,
                (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            break;
        default:
            pthread_mutex_lock(&out_lock);
            flush_line();
            fprintf(stderr, "floor: vcpu%d unexpected exit reason %u\n", v->index, run->exit_reason);
            dump_regs(v);
            exit(4);
        }
    }
    return NULL;
}

/* Loads the ELF64 PT_LOAD segments into guest memory; returns the PVH 32-bit entry point. */
static uint32_t load_pvh_elf(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die(2, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        die(2, "%s: %s", path, strerror(errno));
    size_t size = (size_t)st.st_size;
    uint8_t *f = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED)
        die(2, "%s: mmap: %s", path, strerror(errno));
    close(fd);
    const struct {
        uint8_t ident[16];
        uint16_t type, machine;
        uint32_t version;
        uint64_t entry, phoff, shoff;
        uint32_t flags;
        uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
    } *eh = (const void *)f;
    if (size < sizeof(*eh) || memcmp(eh->ident, "\177ELF", 4) != 0 || eh->ident[4] != 2 || eh->machine != 62)
        die(2, "%s: not an x86-64 ELF64 image", path);
    struct phdr {
        uint32_t type, flags;
        uint64_t offset, vaddr, paddr, filesz, memsz, align;
    };
    if (eh->phentsize != sizeof(struct phdr) || eh->phoff + (uint64_t)eh->phnum * sizeof(struct phdr) > size)
        die(2, "%s: bad program header table", path);
    uint64_t entry = 0;
    for (unsigned i = 0; i < eh->phnum; i++) {
        const struct phdr *ph = (const void *)(f + eh->phoff + i * sizeof(struct phdr));
        if (ph->offset + ph->filesz > size || ph->filesz > ph->memsz)
            die(2, "%s: segment %u outside the file", path, i);
        if (ph->type == 1 /* PT_LOAD */) {
            if (ph->paddr + ph->memsz > mem_size)
                die(2, "%s: segment %u (%#llx + %#llx) outside guest RAM", path, i,
                    (unsigned long long)ph->paddr, (unsigned long long)ph->memsz);
            memcpy(guest_mem + ph->paddr, f + ph->offset, ph->filesz);
            memset(guest_mem + ph->paddr + ph->filesz, 0, ph->memsz - ph->filesz);
        } else if (ph->type == 4 /* PT_NOTE */) {
            uint64_t o = ph->offset, end = ph->offset + ph->filesz;
            while (o + 12 <= end) {
                uint32_t namesz, descsz, type;
                memcpy(&namesz, f + o, 4);
                memcpy(&descsz, f + o + 4, 4);
                memcpy(&type, f + o + 8, 4);
                uint64_t name = o + 12, desc = name + ((namesz + 3) & ~3u);
                if (desc + descsz > end)
                    break;
                if (namesz == 4 && memcmp(f + name, "Xen", 4) == 0 && type == 18 && descsz >= 4) {
                    entry = 0;
                    memcpy(&entry, f + desc, descsz >= 8 ? 8 : 4);
                }
                o = desc + ((descsz + 3) & ~3u);
            }
        }
    }
    munmap(f, size);
    if (entry == 0 || entry >= (1ULL << 32))
        die(2, "%s: no XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH image", path);
    return (uint32_t)entry;
}

static void setup_start_info(void)
{
    size_t n = strlen(cmdline);
    if (n > CMDLINE_MAX)
        die(2, "--cmdline longer than %d bytes", CMDLINE_MAX);
    memcpy(guest_mem + CMDLINE_ADDR, cmdline, n + 1);
    struct hvm_start_info *si = (void *)(guest_mem + START_INFO_ADDR);
    struct hvm_memmap_entry *mm = (void *)(si + 1);
    mm[0] = (struct hvm_memmap_entry){ .addr = 0, .size = 0xa0000, .type = 1 };
    mm[1] = (struct hvm_memmap_entry){ .addr = 0x100000, .size = mem_size - 0x100000, .type = 1 };
    *si = (struct hvm_start_info){
        .magic = 0x336ec578, .version = 1, .cmdline_paddr = CMDLINE_ADDR,
        .memmap_paddr = START_INFO_ADDR + sizeof(*si), .memmap_entries = 2,
    };
}

static void setup_vcpu(struct vcpu *v, struct kvm_cpuid2 *cpuid, uint32_t entry)
{
    v->fd = ioctl(vm_fd, KVM_CREATE_VCPU, v->index);
    if (v->fd < 0)
        die(2, "KVM_CREATE_VCPU %d: %s", v->index, strerror(errno));
    v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED)
        die(2, "mmap kvm_run: %s", strerror(errno));
    for (uint32_t i = 0; i < cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
        if (e->function == 1)
            e->ebx = (e->ebx & 0x00ffffff) | ((uint32_t)v->index << 24);
        if (e->function == 0xb || e->function == 0x1f)
            e->edx = (uint32_t)v->index;
    }
    if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
        die(2, "KVM_SET_CPUID2: %s", strerror(errno));
    if (v->index != 0)
        return;     /* APs wait for INIT/SIPI from the guest */

    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        die(2, "KVM_GET_SREGS: %s", strerror(errno));
    struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 0xb,
                                .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1 };
    struct kvm_segment data = code;
    data.type = 0x3;
    data.selector = 0x10;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .selector = 0x18, .type = 0xb, .present = 1 };
    s.cr0 = 0x11;   /* PE | ET */
    s.cr4 = 0;
    s.efer = 0;
    if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
        die(2, "KVM_SET_SREGS: %s", strerror(errno));
    struct kvm_regs r = { .rip = entry, .rbx = START_INFO_ADDR, .rflags = 0x2 };
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
        die(2, "KVM_SET_REGS: %s", strerror(errno));
}

static void usage(void)
{
    fprintf(stderr, "usage: kvm_floor [--cpus N] [--mem MiB] [--seconds S] [--ioeventfd] [--timing] [--cmdline \"k=v ...\"] guest.elf\n");
    exit(2);
}

int main(int argc, char **argv)
{
    clock_gettime(CLOCK_MONOTONIC, &main_started);
    unsigned long mem_mib = 64;
    double seconds = 0;
    const char *elf = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cpus") && i + 1 < argc)
            ncpus = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mem") && i + 1 < argc)
            mem_mib = strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--timing"))
            timing = 1;
        else if (!strcmp(argv[i], "--ioeventfd"))
            doorbell_eventfd = 0;
        else if (!strcmp(argv[i], "--cmdline") && i + 1 < argc)
            cmdline = argv[++i];
        else if (argv[i][0] != '-' && !elf)
            elf = argv[i];
        else
            usage();
    }
    if (!elf || ncpus < 1 || ncpus > MAX_CPUS || mem_mib < 2 || mem_mib > 3072)
        usage();
    mem_size = (uint64_t)mem_mib << 20;

    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0)
        die(2, "/dev/kvm: %s", strerror(errno));
    vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm_fd < 0)
        die(2, "KVM_CREATE_VM: %s", strerror(errno));
    if (ioctl(vm_fd, KVM_SET_TSS_ADDR, TSS_ADDR) < 0)
        die(2, "KVM_SET_TSS_ADDR: %s", strerror(errno));
    uint64_t idmap = IDMAP_ADDR;
    if (ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        die(2, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
    if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        die(2, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        die(2, "KVM_CREATE_PIT2: %s", strerror(errno));

    guest_mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (guest_mem == MAP_FAILED)
        die(2, "guest RAM: %s", strerror(errno));
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = mem_size, .userspace_addr = (uint64_t)guest_mem,
    };
    if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die(2, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

    if (doorbell_eventfd == 0) {
        doorbell_eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (doorbell_eventfd < 0)
            die(2, "eventfd: %s", strerror(errno));
        struct kvm_ioeventfd pio_db = { .addr = SCRATCH_PORT + 8, .len = 4, .fd = doorbell_eventfd,
                                        .flags = KVM_IOEVENTFD_FLAG_PIO };
        struct kvm_ioeventfd mmio_db = { .addr = SCRATCH_MMIO + 0x104, .len = 4, .fd = doorbell_eventfd };
        if (ioctl(vm_fd, KVM_IOEVENTFD, &pio_db) < 0 || ioctl(vm_fd, KVM_IOEVENTFD, &mmio_db) < 0)
            die(2, "KVM_IOEVENTFD: %s", strerror(errno));
    }
    uint32_t entry = load_pvh_elf(elf);
    setup_start_info();

    int rs = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (rs <= 0)
        die(2, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
    run_size = (size_t)rs;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + 256 * sizeof(struct kvm_cpuid_entry2));
    if (!cpuid)
        die(2, "out of memory");
    cpuid->nent = 256;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
        die(2, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
    for (int i = 0; i < ncpus; i++) {
        vcpus[i].index = i;
        setup_vcpu(&vcpus[i], cpuid, entry);
    }
    clock_gettime(CLOCK_MONOTONIC, &vcpus_started);
    for (int i = 0; i < ncpus; i++)
        if (pthread_create(&vcpus[i].thread, NULL, vcpu_loop, &vcpus[i]) != 0)
            die(2, "pthread_create failed");

    if (seconds > 0) {
        struct timespec ts = { .tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9) };
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&out_lock);
        flush_line();
        uint32_t magic, ring3;
        memcpy(&magic, guest_mem + STATUS_PAGE + 0x800, 4);
        memcpy(&ring3, guest_mem + STATUS_PAGE + 0x804, 4);
        printf("floor: status magic=%#x ring3=%u", magic, ring3);
        for (int i = 0; i < ncpus; i++) {
            uint64_t c;
            memcpy(&c, guest_mem + STATUS_PAGE + 64 * i, 8);
            printf(" cpu%d=%llu", i, (unsigned long long)c);
        }
        printf("\n");
        fflush(stdout);
        exit(0);
    }
    pthread_join(vcpus[0].thread, NULL);
    return 0;
}
