/* File I/O: write MIB MiB to DIR/bench-io.dat in 1 MiB writes (then
 * fsync and close), read it back in 1 MiB reads, then OPENS open+close
 * pairs of that file, each timed. On the LWK every one of these calls is
 * shipped to the Linux VM.
 * Usage: bench_io DIR MIB OPENS */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    long mib = argc > 2 ? atol(argv[2]) : 64;
    long opens = argc > 3 ? atol(argv[3]) : 200;
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-io.dat", dir);
    size_t chunk = 1 << 20;
    unsigned char *buf = malloc(chunk);
    uint64_t *oc = malloc((opens > 0 ? opens : 1) * sizeof *oc);
    if (!buf || !oc) return 1;
    for (size_t i = 0; i < chunk; i++) buf[i] = (unsigned char)(i * 31 + 7);
    double hz = tsc_hz();
    double k = 1e9 / hz;

    uint64_t a = rdtsc();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("BENCH-ERROR io open %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (long m = 0; m < mib; m++) {
        size_t done = 0;
        while (done < chunk) {
            ssize_t w = write(fd, buf + done, chunk - done);
            if (w <= 0) {
                printf("BENCH-ERROR io write: %s\n", strerror(errno));
                return 1;
            }
            done += w;
        }
    }
    if (fsync(fd) != 0) printf("BENCH-NOTE io fsync: %s\n", strerror(errno));
    close(fd);
    uint64_t b = rdtsc();

    fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("BENCH-ERROR io reopen: %s\n", strerror(errno));
        return 1;
    }
    size_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, chunk);
        if (r < 0) {
            printf("BENCH-ERROR io read: %s\n", strerror(errno));
            return 1;
        }
        if (r == 0) break;
        total += r;
    }
    close(fd);
    uint64_t c = rdtsc();
    if (total != (size_t)mib << 20) {
        printf("BENCH-ERROR io read back %zu bytes of %ld MiB\n", total, mib);
        return 1;
    }
    for (long i = 0; i < opens; i++) {
        uint64_t s = rdtsc();
        int f = open(path, O_RDONLY);
        close(f);
        oc[i] = rdtsc() - s;
        if (f < 0) {
            printf("BENCH-ERROR io open: %s\n", strerror(errno));
            return 1;
        }
    }
    unlink(path);
    double ws = (b - a) * k / 1e9, rs = (c - b) * k / 1e9;
    uint64_t *s = malloc((opens > 0 ? opens : 1) * sizeof *s);
    memcpy(s, oc, opens * sizeof *s);
    qsort(s, opens, sizeof *s, cmp_u64);
    printf("BENCH io mib=%ld write_s=%.3f write_mib_s=%.2f read_s=%.3f read_mib_s=%.2f opens=%ld "
           "open_close_median_ns=%.0f open_close_p99_ns=%.0f tsc_hz=%.0f\n",
           mib, ws, mib / ws, rs, mib / rs, opens, opens ? quantile(s, opens, 0.5) * k : 0.0,
           opens ? quantile(s, opens, 0.99) * k : 0.0, hz);
    print_samples("io", "open_close", oc, opens, hz);
    return 0;
}
