/* Memory available to the application: the largest anonymous mapping
 * that can be made and touched (one write per 4 KiB page), found by
 * binary search to GRAIN MiB between 0 and LIMIT MiB. Where fork works
 * (Linux) each probe runs in a child, so that an out-of-memory kill ends
 * the probe, not the benchmark; where it does not (the LWK: one process
 * per job, and mmap itself fails when frames run out) probes run here.
 * Usage: bench_mem LIMIT_MIB GRAIN_MIB */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

static int probe_here(size_t mib) {
    size_t len = mib << 20;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 0;
    for (size_t i = 0; i < len; i += 4096) p[i] = 1;
    munmap(p, len);
    return 1;
}

static int use_fork;

static int probe(size_t mib) {
    if (!use_fork) return probe_here(mib);
    pid_t pid = fork();
    if (pid == 0) _exit(probe_here(mib) ? 0 : 3);
    if (pid < 0) return 0;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv) {
    long limit = argc > 1 ? atol(argv[1]) : 512;
    long grain = argc > 2 ? atol(argv[2]) : 4;
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid > 0) {
        int st;
        waitpid(pid, &st, 0);
        use_fork = 1;
    }
    long lo = 0, hi = limit + grain; /* lo works; hi is assumed not to */
    int probes = 0;
    double t0 = mono_s();
    while (hi - lo > grain) {
        long mid = lo + (hi - lo) / 2;
        probes++;
        if (probe(mid)) lo = mid; else hi = mid;
    }
    printf("BENCH mem largest_mib=%ld limit_mib=%ld grain_mib=%ld probes=%d mode=%s seconds=%.1f\n",
           lo, limit, grain, probes, use_fork ? "fork" : "in-process", mono_s() - t0);
    return 0;
}
