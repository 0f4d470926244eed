/* Runtime of the VMHost test guests: CPU tables, exception reporting, COM1, DebugExit, cmdline. */
#include "guest.h"

struct tss64 {
    u32 reserved0;
    u64 rsp[3];
    u64 reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3;
    u16 iomap_base;
    u8  iomap[8192 + 1];    /* all ports allowed (bits 0) + the 0xff terminator */
} __attribute__((packed));

struct idt_gate {
    u16 off_lo;
    u16 sel;
    u8  ist;
    u8  type_attr;
    u16 off_mid;
    u32 off_hi;
    u32 reserved;
};

struct exception_frame {
    u64 vector, error, rip, cs, rflags, rsp, ss;
};

struct hvm_start_info {
    u32 magic;
    u32 version;
    u32 flags;
    u32 nr_modules;
    u64 modlist_paddr;
    u64 cmdline_paddr;
    u64 rsdp_paddr;
    u64 memmap_paddr;
    u32 memmap_entries;
    u32 reserved;
};
#define HVM_START_MAGIC 0x336ec578

#define CMDLINE_MAX 1024

extern u64 gdt[];
extern u64 boot_start_info;
extern char kstacks[];
extern const u64 isr_table[32];

char g_cmdline[CMDLINE_MAX];
static struct tss64 tss[GUEST_MAX_CPUS] __attribute__((aligned(16)));
static struct idt_gate idt[256] __attribute__((aligned(16)));
static unsigned idt_vectors = 32;   /* IDT limit: gates 0..idt_vectors-1 */

static void set_gate(unsigned v, u64 h)
{
    idt[v].off_lo = (u16)h;
    idt[v].sel = SEL_KCODE64;
    idt[v].ist = 0;
    idt[v].type_attr = 0x8e;    /* present, DPL 0, 64-bit interrupt gate */
    idt[v].off_mid = (u16)(h >> 16);
    idt[v].off_hi = (u32)(h >> 32);
}

static void load_idt(void)
{
    struct { u16 limit; u64 base; } __attribute__((packed)) idtr = { (u16)(idt_vectors * 16 - 1), (u64)idt };
    __asm__ volatile("lidt %0" :: "m"(idtr));
}

void idt_set_gate(unsigned vector, void (*handler)(void))
{
    if (vector > 255)
        return;
    set_gate(vector, (u64)handler);
    if (vector >= idt_vectors)
        idt_vectors = vector + 1;
    load_idt();
}

void *memcpy(void *d, const void *s, unsigned long n)
{
    u8 *dd = d;
    const u8 *ss = s;
    while (n--)
        *dd++ = *ss++;
    return d;
}

void *memset(void *d, int c, unsigned long n)
{
    u8 *dd = d;
    while (n--)
        *dd++ = (u8)c;
    return d;
}

static void copy_cmdline(void)
{
    const struct hvm_start_info *si = (const struct hvm_start_info *)boot_start_info;
    g_cmdline[0] = 0;
    if (si == 0 || si->magic != HVM_START_MAGIC || si->cmdline_paddr == 0)
        return;
    const char *src = (const char *)si->cmdline_paddr;
    unsigned i = 0;
    while (i < CMDLINE_MAX - 1 && src[i]) {
        g_cmdline[i] = src[i];
        i++;
    }
    g_cmdline[i] = 0;
}

/* Ring 0, called once per CPU from start.S on its own kernel stack. */
void cpu_init(unsigned cpu)
{
    if (cpu == 0) {
        for (unsigned v = 0; v < 32; v++)
            set_gate(v, isr_table[v]);
        copy_cmdline();
        /* Ring 3 always runs with interrupts enabled on kvm_pvm: mask both 8259s (OCW1) so that no
           device interrupt reaches a guest that did not ask for one. */
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
    }
    struct tss64 *t = &tss[cpu];
    t->rsp[0] = (u64)kstacks + ((u64)(cpu + 1) << KSTACK_SHIFT);
    t->iomap_base = __builtin_offsetof(struct tss64, iomap);
    t->iomap[8192] = 0xff;
    u64 base = (u64)t, limit = sizeof(struct tss64) - 1;
    u64 *d = &gdt[SEL_TSS0 / 8 + 2 * cpu];
    d[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
           (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    d[1] = base >> 32;
    __asm__ volatile("ltr %w0" :: "r"(SEL_TSS0 + 16 * cpu));
    load_idt();
    if (cpu == 0 && guest_kernel_init)
        guest_kernel_init();
}

void com1_putc(char c)
{
    while (!(inb(COM1_PORT + 5) & 0x20))
        ;
    outb(COM1_PORT, (u8)c);
}

void com1_puts(const char *s)
{
    while (*s)
        com1_putc(*s++);
}

void com1_putu(u64 v)
{
    char buf[24];
    int i = 0;
    do {
        buf[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        com1_putc(buf[--i]);
}

void com1_puthex(u64 v)
{
    com1_puts("0x");
    int started = 0;
    for (int shift = 60; shift >= 0; shift -= 4) {
        unsigned d = (v >> shift) & 0xf;
        if (d || started || shift == 0) {
            com1_putc("0123456789abcdef"[d]);
            started = 1;
        }
    }
}

void debug_exit(u8 v)
{
    outb(DEBUG_EXIT_PORT, v);
    for (;;)
        cpu_relax();
}

/* Ring 0 (from isr_common). */
void exception_report(const struct exception_frame *f)
{
    com1_puts("guest: exception ");
    com1_putu(f->vector);
    com1_puts(" err=");
    com1_puthex(f->error);
    com1_puts(" rip=");
    com1_puthex(f->rip);
    com1_puts(" cs=");
    com1_puthex(f->cs);
    com1_putc('\n');
    outb(DEBUG_EXIT_PORT, (u8)(EXIT_EXCEPTION_BASE + f->vector));
    for (;;)
        __asm__ volatile("cli; hlt");
}

int arg_find(const char *key, const char **val, unsigned *len)
{
    const char *p = g_cmdline;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        const char *k = key;
        const char *q = w;
        while (*k && q < p && *q == *k) {
            q++;
            k++;
        }
        if (*k == 0 && q < p && *q == '=') {
            *val = q + 1;
            *len = (unsigned)(p - (q + 1));
            return 1;
        }
    }
    return 0;
}

u64 arg_u64(const char *key, u64 dflt)
{
    const char *v;
    unsigned n;
    if (!arg_find(key, &v, &n) || n == 0)
        return dflt;
    u64 r = 0;
    unsigned i = 0, base = 10;
    if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        base = 16;
        i = 2;
    }
    for (; i < n; i++) {
        char c = v[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return dflt;
        r = r * base + d;
    }
    return r;
}

int arg_is(const char *key, const char *value)
{
    const char *v;
    unsigned n, i;
    if (!arg_find(key, &v, &n))
        return 0;
    for (i = 0; i < n; i++)
        if (value[i] != v[i])
            return 0;
    return value[i] == 0;
}
