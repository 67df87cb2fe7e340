/* Page faults while touching MIB MiB (getrusage before and after one
 * write per 4 KiB page), the time of that touch, then UPDATES random
 * read-modify-write updates of 64-bit words over the same memory.
 * Usage: bench_touch MIB UPDATES */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "bench_common.h"

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 256;
    long updates = argc > 2 ? atol(argv[2]) : 10000000;
    size_t len = (size_t)mib << 20;
    double hz = tsc_hz();
    struct rusage r0, r1;
    int ru = getrusage(RUSAGE_SELF, &r0) == 0 ? 0 : errno;
    uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("BENCH-ERROR touch mmap %ld MiB: %s\n", mib, strerror(errno));
        return 1;
    }
    uint64_t a = rdtsc();
    for (size_t i = 0; i < len / 8; i += 512) p[i] = i;
    uint64_t b = rdtsc();
    if (!ru && getrusage(RUSAGE_SELF, &r1) != 0) ru = errno;
    size_t words = len / 8;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint64_t c = rdtsc();
    for (long i = 0; i < updates; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[x % words] += x;
    }
    uint64_t d = rdtsc();
    uint64_t sum = 0;
    for (size_t i = 0; i < words; i += 4099) sum += p[i];
    double k = 1e9 / hz;
    if (ru)
        printf("BENCH touch mib=%ld faults=unavailable getrusage_errno=%d", mib, ru);
    else
        printf("BENCH touch mib=%ld faults=%ld minflt=%ld majflt=%ld", mib,
               (r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt),
               r1.ru_minflt - r0.ru_minflt, r1.ru_majflt - r0.ru_majflt);
    printf(" touch_ms=%.3f updates=%ld update_ms=%.3f update_ns=%.2f checksum=%llu tsc_hz=%.0f "
           "complete=yes\n",
           (b - a) * k / 1e6, updates, (d - c) * k / 1e6, updates ? (d - c) * k / updates : 0.0,
           (unsigned long long)sum, hz);
    return 0;
}
