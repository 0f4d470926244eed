/*
 * ckvm.h — what Swift cannot import from <linux/kvm.h> by itself.
 *
 * - The ioctl request numbers are function-like macros (_IO/_IOR/_IOW/_IOWR); Swift imports none of them, so each
 *   one used by the KVM target is re-exported here as a `static inline unsigned long` function.
 * - `ioctl(2)` is variadic; the two shapes the KVM API uses (pointer argument, integer argument) get fixed-arity
 *   wrappers that return the raw result (errno is left for the caller).
 * - `struct kvm_run` is mostly an anonymous union; accessors for the exit payloads the VMM handles return plain
 *   values or pointers into the mapping.
 * - Flexible-array structs (`kvm_cpuid2`, `kvm_msrs`) get allocate / entry-pointer / free helpers.
 * - The calls of the VMM's threads that the Glibc module hides behind _GNU_SOURCE or variadic prototypes: the
 *   kernel thread id, the thread name (shown by top -H, gdb and /proc) and sem_clockwait (a timed semaphore
 *   wait on CLOCK_MONOTONIC, which a wall-clock step cannot stretch or cut short).
 */
#ifndef CKVM_H
#define CKVM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <semaphore.h>
#include <sys/ioctl.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#pragma clang assume_nonnull begin

/* ---- ioctl request numbers: /dev/kvm ---- */
static inline unsigned long ckvm_req_get_api_version(void) { return KVM_GET_API_VERSION; }
static inline unsigned long ckvm_req_create_vm(void) { return KVM_CREATE_VM; }
static inline unsigned long ckvm_req_check_extension(void) { return KVM_CHECK_EXTENSION; }
static inline unsigned long ckvm_req_get_vcpu_mmap_size(void) { return KVM_GET_VCPU_MMAP_SIZE; }
static inline unsigned long ckvm_req_get_supported_cpuid(void) { return KVM_GET_SUPPORTED_CPUID; }
static inline unsigned long ckvm_req_get_msr_index_list(void) { return KVM_GET_MSR_INDEX_LIST; }

/* ---- ioctl request numbers: VM ---- */
static inline unsigned long ckvm_req_set_user_memory_region(void) { return KVM_SET_USER_MEMORY_REGION; }
static inline unsigned long ckvm_req_create_vcpu(void) { return KVM_CREATE_VCPU; }
static inline unsigned long ckvm_req_set_tss_addr(void) { return KVM_SET_TSS_ADDR; }
static inline unsigned long ckvm_req_set_identity_map_addr(void) { return KVM_SET_IDENTITY_MAP_ADDR; }
static inline unsigned long ckvm_req_create_irqchip(void) { return KVM_CREATE_IRQCHIP; }
static inline unsigned long ckvm_req_create_pit2(void) { return KVM_CREATE_PIT2; }
static inline unsigned long ckvm_req_irq_line(void) { return KVM_IRQ_LINE; }
static inline unsigned long ckvm_req_ioeventfd(void) { return KVM_IOEVENTFD; }
static inline unsigned long ckvm_req_irqfd(void) { return KVM_IRQFD; }
static inline unsigned long ckvm_req_vm_check_extension(void) { return KVM_CHECK_EXTENSION; }
static inline unsigned long ckvm_req_get_irqchip(void) { return KVM_GET_IRQCHIP; }
static inline unsigned long ckvm_req_set_irqchip(void) { return KVM_SET_IRQCHIP; }
static inline unsigned long ckvm_req_get_pit2(void) { return KVM_GET_PIT2; }
static inline unsigned long ckvm_req_set_pit2(void) { return KVM_SET_PIT2; }

/* ---- ioctl request numbers: vCPU ---- */
static inline unsigned long ckvm_req_run(void) { return KVM_RUN; }
static inline unsigned long ckvm_req_get_regs(void) { return KVM_GET_REGS; }
static inline unsigned long ckvm_req_set_regs(void) { return KVM_SET_REGS; }
static inline unsigned long ckvm_req_get_sregs(void) { return KVM_GET_SREGS; }
static inline unsigned long ckvm_req_set_sregs(void) { return KVM_SET_SREGS; }
static inline unsigned long ckvm_req_get_fpu(void) { return KVM_GET_FPU; }
static inline unsigned long ckvm_req_set_fpu(void) { return KVM_SET_FPU; }
static inline unsigned long ckvm_req_get_msrs(void) { return KVM_GET_MSRS; }
static inline unsigned long ckvm_req_set_msrs(void) { return KVM_SET_MSRS; }
static inline unsigned long ckvm_req_set_cpuid2(void) { return KVM_SET_CPUID2; }
static inline unsigned long ckvm_req_get_lapic(void) { return KVM_GET_LAPIC; }
static inline unsigned long ckvm_req_set_lapic(void) { return KVM_SET_LAPIC; }
static inline unsigned long ckvm_req_get_mp_state(void) { return KVM_GET_MP_STATE; }
static inline unsigned long ckvm_req_set_mp_state(void) { return KVM_SET_MP_STATE; }
static inline unsigned long ckvm_req_get_vcpu_events(void) { return KVM_GET_VCPU_EVENTS; }
static inline unsigned long ckvm_req_set_vcpu_events(void) { return KVM_SET_VCPU_EVENTS; }

/* ---- fixed-arity ioctl ---- */
/** ioctl(fd, request, arg) with a pointer argument; returns the raw result (-1 and errno on failure). */
static inline int ckvm_ioctl_ptr(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
/** ioctl(fd, request, value) with an integer argument. */
static inline int ckvm_ioctl_val(int fd, unsigned long request, unsigned long value) { return ioctl(fd, request, value); }
/** KVM_RUN on a vCPU file descriptor (the hot path: no request-number call). */
static inline int ckvm_run(int vcpu_fd) { return ioctl(vcpu_fd, KVM_RUN, 0); }

/* ---- struct kvm_run accessors ---- */
static inline uint32_t ckvm_run_exit_reason(const struct kvm_run *r) { return r->exit_reason; }
static inline uint8_t ckvm_run_immediate_exit(const struct kvm_run *r) {
    return __atomic_load_n(&r->immediate_exit, __ATOMIC_RELAXED);
}
/** Sets immediate_exit with a store another thread may race with (the kick path). */
static inline void ckvm_run_set_immediate_exit(struct kvm_run *r, uint8_t value) {
    __atomic_store_n(&r->immediate_exit, value, __ATOMIC_SEQ_CST);
}
static inline uint8_t ckvm_run_if_flag(const struct kvm_run *r) { return r->if_flag; }
static inline uint8_t ckvm_run_ready_for_interrupt_injection(const struct kvm_run *r) {
    return r->ready_for_interrupt_injection;
}
static inline uint8_t ckvm_run_request_interrupt_window(const struct kvm_run *r) { return r->request_interrupt_window; }
static inline void ckvm_run_set_request_interrupt_window(struct kvm_run *r, uint8_t v) { r->request_interrupt_window = v; }

/* KVM_EXIT_IO */
static inline uint8_t ckvm_run_io_direction(const struct kvm_run *r) { return r->io.direction; }
static inline uint8_t ckvm_run_io_size(const struct kvm_run *r) { return r->io.size; }
static inline uint16_t ckvm_run_io_port(const struct kvm_run *r) { return r->io.port; }
static inline uint32_t ckvm_run_io_count(const struct kvm_run *r) { return r->io.count; }
static inline uint64_t ckvm_run_io_data_offset(const struct kvm_run *r) { return r->io.data_offset; }

/* KVM_EXIT_MMIO */
static inline uint64_t ckvm_run_mmio_phys_addr(const struct kvm_run *r) { return r->mmio.phys_addr; }
static inline uint8_t *_Nonnull ckvm_run_mmio_data(struct kvm_run *_Nonnull r) { return r->mmio.data; }
static inline uint32_t ckvm_run_mmio_len(const struct kvm_run *r) { return r->mmio.len; }
static inline uint8_t ckvm_run_mmio_is_write(const struct kvm_run *r) { return r->mmio.is_write; }

/* KVM_EXIT_INTERNAL_ERROR */
static inline uint32_t ckvm_run_internal_suberror(const struct kvm_run *r) { return r->internal.suberror; }
static inline uint32_t ckvm_run_internal_ndata(const struct kvm_run *r) { return r->internal.ndata; }
static inline uint64_t ckvm_run_internal_data(const struct kvm_run *r, uint32_t i) {
    return i < 16 ? r->internal.data[i] : 0;
}

/* KVM_EXIT_FAIL_ENTRY */
static inline uint64_t ckvm_run_fail_entry_reason(const struct kvm_run *r) {
    return r->fail_entry.hardware_entry_failure_reason;
}
static inline uint32_t ckvm_run_fail_entry_cpu(const struct kvm_run *r) { return r->fail_entry.cpu; }

/* KVM_EXIT_UNKNOWN */
static inline uint64_t ckvm_run_hw_exit_reason(const struct kvm_run *r) { return r->hw.hardware_exit_reason; }

/* KVM_EXIT_EXCEPTION */
static inline uint32_t ckvm_run_ex_exception(const struct kvm_run *r) { return r->ex.exception; }
static inline uint32_t ckvm_run_ex_error_code(const struct kvm_run *r) { return r->ex.error_code; }

/* KVM_EXIT_SYSTEM_EVENT */
static inline uint32_t ckvm_run_system_event_type(const struct kvm_run *r) { return r->system_event.type; }

/* ---- flexible-array structs ---- */
/** A zeroed kvm_cpuid2 with room for `nent` entries and nent set; NULL if out of memory. Free with free(). */
static inline struct kvm_cpuid2 *_Nullable ckvm_cpuid2_alloc(uint32_t nent) {
    struct kvm_cpuid2 *c = calloc(1, sizeof(struct kvm_cpuid2) + (size_t)nent * sizeof(struct kvm_cpuid_entry2));
    if (c) c->nent = nent;
    return c;
}
static inline struct kvm_cpuid_entry2 *_Nonnull ckvm_cpuid2_entry(struct kvm_cpuid2 *_Nonnull c, uint32_t i) { return &c->entries[i]; }

/** A zeroed kvm_msrs with room for `n` entries and nmsrs set; NULL if out of memory. Free with free(). */
static inline struct kvm_msrs *_Nullable ckvm_msrs_alloc(uint32_t n) {
    struct kvm_msrs *m = calloc(1, sizeof(struct kvm_msrs) + (size_t)n * sizeof(struct kvm_msr_entry));
    if (m) m->nmsrs = n;
    return m;
}
static inline struct kvm_msr_entry *_Nonnull ckvm_msrs_entry(struct kvm_msrs *_Nonnull m, uint32_t i) { return &m->entries[i]; }

/** A zeroed kvm_msr_list with room for `n` indices. Free with free(). */
static inline struct kvm_msr_list *_Nullable ckvm_msr_list_alloc(uint32_t n) {
    struct kvm_msr_list *l = calloc(1, sizeof(struct kvm_msr_list) + (size_t)n * sizeof(uint32_t));
    if (l) l->nmsrs = n;
    return l;
}
static inline uint32_t ckvm_msr_list_index(const struct kvm_msr_list *l, uint32_t i) { return l->indices[i]; }

/* ---- constants Swift may not import (macros with casts or shifts) ---- */
static inline uint32_t ckvm_mem_log_dirty_pages(void) { return KVM_MEM_LOG_DIRTY_PAGES; }
static inline uint32_t ckvm_mem_readonly(void) { return KVM_MEM_READONLY; }
static inline uint32_t ckvm_ioeventfd_flag_pio(void) { return KVM_IOEVENTFD_FLAG_PIO; }
static inline uint32_t ckvm_ioeventfd_flag_datamatch(void) { return KVM_IOEVENTFD_FLAG_DATAMATCH; }
static inline uint32_t ckvm_ioeventfd_flag_deassign(void) { return KVM_IOEVENTFD_FLAG_DEASSIGN; }
static inline uint32_t ckvm_irqfd_flag_deassign(void) { return KVM_IRQFD_FLAG_DEASSIGN; }
static inline uint32_t ckvm_pit_speaker_dummy(void) { return KVM_PIT_SPEAKER_DUMMY; }

/* The calling thread's kernel id (gettid(2)). */
static inline int32_t ckvm_thread_id(void) { return (int32_t)syscall(SYS_gettid); }

/* glibc >= 2.30; declared only under _GNU_SOURCE. */
extern int sem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *abstime);

/* Waits on `sem` until the CLOCK_MONOTONIC time `abstime`; 0 or -1 with errno (ETIMEDOUT, EINTR). */
static inline int ckvm_sem_wait_monotonic(sem_t *sem, const struct timespec *abstime) {
    return sem_clockwait(sem, CLOCK_MONOTONIC, abstime);
}

/* Names the calling thread (at most 15 bytes are kept). */
static inline void ckvm_set_thread_name(const char *name) { prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

/* Guest memory shared with running vCPUs: a naturally aligned 1-, 2-, 4- or 8-byte access is one load or store
 * (single-copy atomic), as on hardware, so a device never sees half of an old and half of a new value of a field
 * the guest updates concurrently (a virtqueue index). glibc's memcpy for 2 bytes loads the first byte and then the
 * whole word: a carry between the loads gives a value the guest never wrote. Loads are acquire and stores release
 * (plain moves on x86): ring entries read after an index load are not older than it, and entries written before
 * an index store are visible with it. `n` must be 1, 2, 4 or 8 and `guest` aligned to `n`; `host` may be any
 * address. */
static inline void ckvm_guest_load(void *host, const void *guest, size_t n) {
    switch (n) {
    case 1: { uint8_t v = __atomic_load_n((const uint8_t *)guest, __ATOMIC_ACQUIRE); __builtin_memcpy(host, &v, 1); break; }
    case 2: { uint16_t v = __atomic_load_n((const uint16_t *)guest, __ATOMIC_ACQUIRE); __builtin_memcpy(host, &v, 2); break; }
    case 4: { uint32_t v = __atomic_load_n((const uint32_t *)guest, __ATOMIC_ACQUIRE); __builtin_memcpy(host, &v, 4); break; }
    case 8: { uint64_t v = __atomic_load_n((const uint64_t *)guest, __ATOMIC_ACQUIRE); __builtin_memcpy(host, &v, 8); break; }
    default: __builtin_memcpy(host, guest, n);
    }
}

static inline void ckvm_guest_store(void *guest, const void *host, size_t n) {
    switch (n) {
    case 1: { uint8_t v; __builtin_memcpy(&v, host, 1); __atomic_store_n((uint8_t *)guest, v, __ATOMIC_RELEASE); break; }
    case 2: { uint16_t v; __builtin_memcpy(&v, host, 2); __atomic_store_n((uint16_t *)guest, v, __ATOMIC_RELEASE); break; }
    case 4: { uint32_t v; __builtin_memcpy(&v, host, 4); __atomic_store_n((uint32_t *)guest, v, __ATOMIC_RELEASE); break; }
    case 8: { uint64_t v; __builtin_memcpy(&v, host, 8); __atomic_store_n((uint64_t *)guest, v, __ATOMIC_RELEASE); break; }
    default: __builtin_memcpy(guest, host, n);
    }
}

/* CLOCK_MONOTONIC nanoseconds at this process's first initializer in CKVM (before Swift's main); 0 if the
 * initializer did not run. */
uint64_t ckvm_process_start_ns(void);

#pragma clang assume_nonnull end

#endif
