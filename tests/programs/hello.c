/* Prints its arguments and one environment variable, returns 3: checks
 * argv, envp and the exit status through libc start-up (musl and glibc). */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    printf("hello from %s, argc=%d\n", argv[0], argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    const char *v = getenv("LWK_TEST");
    printf("LWK_TEST=%s\n", v ? v : "(unset)");
    return 3;
}
