/* Writes a file of N MiB (default 64) in 1 MiB writes, fsyncs it, reads it
 * back and checks every byte against the pattern; the host then checks the
 * file on its side of the share byte for byte (the same pattern).
 * usage: bigfile PATH [MIB]   prints "ok <bytes> ..." and exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1 << 20)

/* Byte i of the file (the host's checker uses the same formula). */
static unsigned char pattern(unsigned long i)
{
    return (unsigned char)(i * 131 + (i >> 12) * 7 + 1);
}

static unsigned char buf[CHUNK], back[CHUNK];

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "bigfile.bin";
    unsigned long total = (argc > 2 ? strtoul(argv[2], 0, 0) : 64) << 20;
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror("bigfile: open for writing");
        return 2;
    }
    for (unsigned long off = 0; off < total; off += CHUNK) {
        for (unsigned long i = 0; i < CHUNK; i++)
            buf[i] = pattern(off + i);
        for (unsigned long done = 0; done < CHUNK;) {
            ssize_t n = write(fd, buf + done, CHUNK - done);
            if (n <= 0) {
                fprintf(stderr, "bigfile: write at %lu: %s\n", off + done, strerror(errno));
                return 3;
            }
            done += (unsigned long)n;
        }
    }
    if (fsync(fd) != 0) {
        perror("bigfile: fsync");
        return 4;
    }
    if (close(fd) != 0) {
        perror("bigfile: close");
        return 5;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || (unsigned long)st.st_size != total) {
        fprintf(stderr, "bigfile: reopen/fstat: %s (size %ld)\n", strerror(errno),
                fd < 0 ? -1L : (long)st.st_size);
        return 6;
    }
    for (unsigned long off = 0; off < total; off += CHUNK) {
        for (unsigned long done = 0; done < CHUNK;) {
            ssize_t n = read(fd, back + done, CHUNK - done);
            if (n <= 0) {
                fprintf(stderr, "bigfile: read at %lu: %s\n", off + done,
                        n == 0 ? "end of file" : strerror(errno));
                return 7;
            }
            done += (unsigned long)n;
        }
        for (unsigned long i = 0; i < CHUNK; i++) {
            if (back[i] != pattern(off + i)) {
                fprintf(stderr, "bigfile: byte %lu is %u, wrote %u\n", off + i, back[i],
                        pattern(off + i));
                return 8;
            }
        }
    }
    if (read(fd, back, 1) != 0) {
        fprintf(stderr, "bigfile: data past the end\n");
        return 9;
    }
    close(fd);
    printf("ok %lu bytes written, fsynced, read back and checked\n", total);
    return 0;
}
