/* Runtime interface of the VMHost test guests (freestanding, no libc). */
#ifndef GUEST_H
#define GUEST_H

#include "layout.h"

typedef unsigned char      u8;
typedef unsigned short     u16;
typedef unsigned int       u32;
typedef unsigned long long u64;

/* Provided by each guest: runs in ring 3 (IOPL=3) on every CPU; the return value goes to DebugExit. */
int guest_main(unsigned cpu);
/* Optional: runs once in ring 0 on the BSP before any CPU enters ring 3 (keep it short: emulated). */
void guest_kernel_init(void) __attribute__((weak));

/* RFLAGS loaded by the iretq into ring 3 on every CPU (default 0x3002: IOPL 3, IF 0). A guest that wants
   interrupts in ring 3 sets IF (0x200) from guest_kernel_init. Note kvm_pvm: ring 3 always reads
   rflags 0x202 (hardware value), IOPL is not honoured (the TSS I/O bitmap allows the ports), but interrupt
   injection does follow the IF given here. */
extern u64 user_rflags;

/* Port I/O (allowed in ring 3: IOPL=3). */
static inline void outb(u16 p, u8 v)  { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(u16 p, u16 v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(u16 p, u32 v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline u8  inb(u16 p) { u8 v;  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u16 inw(u16 p) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u32 inl(u16 p) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }

/* MMIO (identity mapped, user accessible). */
static inline void mmio_write32(u64 a, u32 v) { *(volatile u32 *)a = v; }
static inline u32  mmio_read32(u64 a) { return *(volatile u32 *)a; }

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* COM1 output, polling LSR.THRE (bit 5) before each THR write. */
void com1_putc(char c);
void com1_puts(const char *s);
void com1_putu(u64 v);
void com1_puthex(u64 v);

/* Write v to DebugExit (host exit status (v << 1) | 1); never returns. */
void debug_exit(u8 v) __attribute__((noreturn));

/* Kernel command line (copied from hvm_start_info by the BSP; "" if none). */
extern char g_cmdline[];
/* Value of `key=value` word: returns 1 and sets val and len if present. */
int  arg_find(const char *key, const char **val, unsigned *len);
/* Numeric value (decimal or 0x-hex) of key, or dflt when absent or malformed. */
u64  arg_u64(const char *key, u64 dflt);
/* 1 if key is present with exactly this value. */
int  arg_is(const char *key, const char *value);

/* Ring 0 only: installs an interrupt gate (DPL 0) and reloads this CPU's IDTR (the limit grows to cover it).
   Other CPUs pick up the new limit when they run cpu_init; install gates before starting APs. */
void idt_set_gate(unsigned vector, void (*handler)(void));

void *memcpy(void *d, const void *s, unsigned long n);
void *memset(void *d, int c, unsigned long n);

#endif
