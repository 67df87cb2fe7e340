/* Helpers shared by the benchmark programs (tests/programs/bench_*.c) of
 * `cargo xtask bench`. Every program prints one summary line
 *   BENCH <name> key=value ...
 * and, where a distribution matters, its raw samples as
 *   BENCH-SAMPLES <name> <series> v v v ...   (nanoseconds, <= 64 a line)
 * so that xtask computes the statistics and plots from the same numbers
 * on both sides. Times come from the TSC (rdtsc between lfences): on the
 * LWK clock_gettime is itself a trapped system call, so it only
 * calibrates the TSC against CLOCK_MONOTONIC once. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* TSC ticks per second, against CLOCK_MONOTONIC over `ms` milliseconds. */
static double tsc_hz_over(double ms) {
    double t0 = mono_s();
    uint64_t c0 = rdtsc();
    double t1;
    do {
        t1 = mono_s();
    } while (t1 - t0 < ms / 1e3);
    uint64_t c1 = rdtsc();
    return (double)(c1 - c0) / (t1 - t0);
}

__attribute__((unused)) static double tsc_hz(void) { return tsc_hz_over(50); }

__attribute__((unused)) static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The value at quantile q (0..1) of n sorted values. */
__attribute__((unused)) static uint64_t quantile(const uint64_t *sorted, long n, double q) {
    long i = (long)(q * (n - 1) + 0.5);
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return sorted[i];
}

/* Prints samples (ticks converted to ns) as BENCH-SAMPLES lines. */
__attribute__((unused)) static void print_samples(const char *name, const char *series, const uint64_t *ticks, long n,
                          double hz) {
    for (long i = 0; i < n; i += 64) {
        printf("BENCH-SAMPLES %s %s", name, series);
        for (long j = i; j < n && j < i + 64; j++)
            printf(" %.0f", ticks[j] * 1e9 / hz);
        printf("\n");
    }
}

#endif
