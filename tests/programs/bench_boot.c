/* Boot time to the first application instruction: reads the TSC first
 * thing (QEMU starts every TSC at 0 when the machine starts), writes one
 * line at once (the host times its arrival), then calibrates the TSC and
 * prints the guest time since reset. In the Linux VM this program is the
 * init process (rdinit=); as pid 1 it then runs /bench/init.sh. */
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

int main(void) {
    uint64_t first = rdtsc();
    static const char hello[] = "BENCH-FIRST\n";
    (void)!write(1, hello, sizeof hello - 1);
    double hz = tsc_hz();
    printf("BENCH boot first_tsc=%llu tsc_hz=%.0f first_instruction_ms=%.3f\n",
           (unsigned long long)first, hz, first * 1e3 / hz);
    fflush(stdout);
    if (getpid() == 1) {
        char *argv[] = {"sh", "/bench/init.sh", NULL};
        execv("/bin/busybox", argv);
        perror("exec /bench/init.sh");
        return 1;
    }
    return 0;
}
