/* Makes N getpid system calls (default 100000) and prints how many per
 * second it managed, measured with CLOCK_MONOTONIC around the loop.
 * A measurement, not a test threshold. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        syscall(SYS_getpid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("getpid: %ld calls in %.3f s = %.0f calls/s (%.2f us/call)\n", n, s, n / s, s * 1e6 / n);
    return 0;
}
