/* OS noise: one thread per application node runs a fixed quantum of
 * work N times and times each run with the TSC. On Linux each thread is
 * pinned to its own CPU with sched_setaffinity (the highest CPUs of the
 * process's mask); on the LWK threads land one per node by themselves
 * and the call answers EINVAL for a single CPU, which is fine.
 * Usage: bench_noise SAMPLES WORK THREADS */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "bench_common.h"

static long samples, work;
static int nthreads;
static int cpus[64];
static uint64_t *ticks[64];
static int pinned[64];
static volatile int ready;

static void *worker(void *arg) {
    int t = (int)(long)arg;
    if (cpus[t] >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpus[t], &set);
        pinned[t] = sched_setaffinity(0, sizeof set, &set) == 0;
    }
    __atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < nthreads) {
    }
    uint64_t x = 88172645463325252ull + t;
    for (long s = 0; s < samples; s++) {
        uint64_t a = rdtsc();
        for (long i = 0; i < work; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            __asm__ volatile("" : "+r"(x));
        }
        uint64_t b = rdtsc();
        ticks[t][s] = b - a;
    }
    return (void *)(long)(x & 1);
}

int main(int argc, char **argv) {
    samples = argc > 1 ? atol(argv[1]) : 2000;
    work = argc > 2 ? atol(argv[2]) : 20000;
    nthreads = argc > 3 ? atoi(argv[3]) : 1;
    if (nthreads < 1 || nthreads > 64) return 2;
    cpu_set_t mask;
    int have[64], nhave = 0;
    if (sched_getaffinity(0, sizeof mask, &mask) == 0)
        for (int c = 0; c < 64; c++)
            if (CPU_ISSET(c, &mask)) have[nhave++] = c;
    for (int t = 0; t < nthreads; t++) {
        int i = nhave - nthreads + t;
        cpus[t] = i >= 0 && i < nhave ? have[i] : -1;
        ticks[t] = calloc(samples, sizeof(uint64_t));
        if (!ticks[t]) return 1;
    }
    double hz = tsc_hz();
    pthread_t th[64];
    for (int t = 1; t < nthreads; t++) {
        int e = pthread_create(&th[t], NULL, worker, (void *)(long)t);
        if (e) {
            printf("BENCH-ERROR noise pthread_create %d: %s\n", t, strerror(e));
            return 1;
        }
    }
    worker(0);
    for (int t = 1; t < nthreads; t++) pthread_join(th[t], NULL);
    long n = samples * nthreads;
    uint64_t *all = malloc(n * sizeof *all);
    if (!all) return 1;
    for (int t = 0; t < nthreads; t++)
        memcpy(all + t * samples, ticks[t], samples * sizeof *all);
    qsort(all, n, sizeof *all, cmp_u64);
    double k = 1e9 / hz;
    int npinned = 0;
    for (int t = 0; t < nthreads; t++) npinned += pinned[t];
    printf("BENCH noise threads=%d samples=%ld work=%ld pinned=%d cpus_in_mask=%d min_ns=%.0f "
           "median_ns=%.0f max_ns=%.0f spread=%.4f tsc_hz=%.0f\n",
           nthreads, samples, work, npinned, nhave, all[0] * k, quantile(all, n, 0.5) * k,
           all[n - 1] * k, (double)(all[n - 1] - all[0]) / all[0], hz);
    for (int t = 0; t < nthreads; t++) {
        char series[16];
        snprintf(series, sizeof series, "t%d", t);
        print_samples("noise", series, ticks[t], samples, hz);
    }
    return 0;
}
