/* A freestanding static executable shaped like a PVH guest: a ".note.Xen" XEN_ELFNOTE_PHYS32_ENTRY note (type 18)
 * pointing at _start, linked at 1 MiB. Only read by the ELF tests, never run. */
#include <stdint.h>

void _start(void);

/* The note: namesz 4, descsz 4, type 18, "Xen", then the 32-bit entry address (an absolute relocation). */
__asm__(".pushsection .note.Xen, \"a\", @note\n"
        ".balign 4\n"
        ".long 4, 4, 18\n"
        ".asciz \"Xen\"\n"
        ".balign 4\n"
        ".long _start\n"
        ".popsection\n");

__attribute__((used)) static volatile uint32_t counter = 0x5eed;

void _start(void) {
    for (;;) {
        counter++;
        __asm__ volatile("hlt");
    }
}
