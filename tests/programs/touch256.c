/* Allocates 256 MiB, touches every byte, checks it, frees it: the LWK
 * backs the whole allocation with 2 MiB pages at once (no page faults). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    size_t n = 256u << 20;
    unsigned char *p = malloc(n);
    if (!p) { puts("malloc failed"); return 1; }
    for (size_t i = 0; i < n; i += 4096) p[i] = (unsigned char)(i >> 12);
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i += 4096) sum += p[i];
    memset(p, 0x5a, n);
    for (size_t i = 0; i < n; i += 65536) if (p[i] != 0x5a) { puts("bad byte"); return 2; }
    free(p);
    printf("touched %zu MiB, sum %lu\n", n >> 20, sum);
    return 0;
}
