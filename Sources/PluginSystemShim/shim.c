#include "vmh_plugin_system.h"
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

int vmh_eventfd_create(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd >= 0 ? fd : -errno;
}

int vmh_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof one);
        if (n == (ssize_t)sizeof one) return 0;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? -errno : -EIO;
    }
}

int64_t vmh_eventfd_drain(int fd) {
    uint64_t count = 0;
    for (;;) {
        ssize_t n = read(fd, &count, sizeof count);
        if (n == (ssize_t)sizeof count) return (int64_t)count;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        return n < 0 ? -errno : -EIO;
    }
}
