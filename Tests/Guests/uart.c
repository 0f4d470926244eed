/*
 * uart: a tiny 16550 driver in ring 3. It programs COM1 (divisor 1 = 115200 baud, 8N1, FIFOs on), checks the
 * registers (DLAB divisor, LCR, SCR, IIR FIFO bits), runs a loopback self-test (MCR.4: bytes written to THR come
 * back in RBR, the modem lines follow MCR), then prints `uart: PASS` — or `uart: FAIL <check> got=<hex>
 * want=<hex>` (DebugExit 1, status 3).
 *   echo=N   after PASS, print `uart: ready` and echo N input lines as `uart: echo <line>` (input read by polling
 *            LSR.DR), then exit 0 (status 1)
 */
#include "guest.h"

#define THR (COM1_PORT + 0)
#define RBR (COM1_PORT + 0)
#define DLL (COM1_PORT + 0)
#define DLM (COM1_PORT + 1)
#define IER (COM1_PORT + 1)
#define IIR (COM1_PORT + 2)
#define FCR (COM1_PORT + 2)
#define LCR (COM1_PORT + 3)
#define MCR (COM1_PORT + 4)
#define LSR (COM1_PORT + 5)
#define MSR (COM1_PORT + 6)
#define SCR (COM1_PORT + 7)

static void fail(const char *what, u64 got, u64 want)
{
    com1_puts("uart: FAIL ");
    com1_puts(what);
    com1_puts(" got=");
    com1_puthex(got);
    com1_puts(" want=");
    com1_puthex(want);
    com1_putc('\n');
    debug_exit(1);
}

static void expect(const char *what, u64 got, u64 want)
{
    if (got != want) fail(what, got, want);
}

static u8 read_byte(void)
{
    while (!(inb(LSR) & 0x01)) cpu_relax();
    return inb(RBR);
}

int guest_main(unsigned cpu)
{
    if (cpu != 0) return 0;

    /* Program the line: DLAB, divisor 1, 8N1, FIFOs on and cleared, no interrupts, DTR+RTS. */
    outb(IER, 0x00);
    outb(LCR, 0x80);
    outb(DLL, 0x01);
    outb(DLM, 0x00);
    expect("dll", inb(DLL), 0x01);
    expect("dlm", inb(DLM), 0x00);
    outb(LCR, 0x03);
    expect("lcr", inb(LCR), 0x03);
    outb(FCR, 0x07);
    expect("iir-fifo", inb(IIR) & 0xc0, 0xc0);
    outb(MCR, 0x03);
    outb(SCR, 0xa5);
    expect("scr", inb(SCR), 0xa5);
    expect("lsr-idle", inb(LSR) & 0x60, 0x60);

    /* Loopback self-test. */
    outb(MCR, 0x13);
    expect("msr-loop", inb(MSR) & 0xf0, 0x30);          /* CTS=RTS, DSR=DTR, RI=OUT1=0, DCD=OUT2=0 */
    const char *probe = "loop";
    for (int i = 0; probe[i]; i++) outb(THR, (u8)probe[i]);
    for (int i = 0; probe[i]; i++) {
        expect("loop-dr", inb(LSR) & 0x01, 0x01);
        expect("loop-byte", inb(RBR), (u8)probe[i]);
    }
    expect("loop-empty", inb(LSR) & 0x01, 0);
    outb(MCR, 0x03);

    com1_puts("uart: PASS\n");
    u64 lines = arg_u64("echo", 0);
    if (lines == 0) return 0;
    com1_puts("uart: ready\n");
    char line[128];
    for (u64 n = 0; n < lines; n++) {
        unsigned len = 0;
        for (;;) {
            u8 c = read_byte();
            if (c == '\n' || c == '\r') break;
            if (len < sizeof line - 1) line[len++] = (char)c;
        }
        line[len] = 0;
        com1_puts("uart: echo ");
        com1_puts(line);
        com1_putc('\n');
    }
    return 0;
}
