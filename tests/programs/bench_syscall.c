/* Null system call latency: N getpid calls through syscall(SYS_getpid),
 * each timed with the TSC. Prints min/median/p99/max and the samples.
 * Usage: bench_syscall [N] */
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    uint64_t *d = malloc(n * sizeof *d), *s = malloc(n * sizeof *s);
    if (!d || !s) return 1;
    double hz = tsc_hz();
    for (int i = 0; i < 100; i++) syscall(SYS_getpid);
    /* The cost of the timing itself (two rdtsc with fences). */
    uint64_t overhead = UINT64_MAX;
    for (int i = 0; i < 1000; i++) {
        uint64_t a = rdtsc(), b = rdtsc();
        if (b - a < overhead) overhead = b - a;
    }
    for (long i = 0; i < n; i++) {
        uint64_t a = rdtsc();
        syscall(SYS_getpid);
        uint64_t b = rdtsc();
        d[i] = b - a;
    }
    for (long i = 0; i < n; i++) s[i] = d[i];
    qsort(s, n, sizeof *s, cmp_u64);
    double k = 1e9 / hz;
    printf("BENCH syscall samples=%ld min_ns=%.0f median_ns=%.0f p99_ns=%.0f max_ns=%.0f "
           "timer_overhead_ns=%.0f tsc_hz=%.0f\n",
           n, s[0] * k, quantile(s, n, 0.5) * k, quantile(s, n, 0.99) * k, s[n - 1] * k,
           overhead * k, hz);
    print_samples("syscall", "getpid", d, n, hz);
    return 0;
}
