/* Keeps writing and fsyncing a small file until a call fails; the test
 * kills the Linux VM's daemon meanwhile. Prints "ready" once writing;
 * exits 74 (EX_IOERR) when the failure is EIO, 1 for another error, 3 if
 * nothing failed within 300 s.   usage: eio PATH */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "eio.tmp";
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror("eio: open");
        return 2;
    }
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    printf("ready\n");
    fflush(stdout);
    time_t end = time(NULL) + 300;
    while (time(NULL) < end) {
        if (write(fd, buf, sizeof buf) < 0 || fsync(fd) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
            int e = errno;
            fprintf(stderr, "eio: %s (errno %d)\n", strerror(e), e);
            return e == EIO ? 74 : 1;
        }
    }
    return 3;
}
