/* A ud2 the program wrote itself (not a rewritten syscall): SIGILL. */
    .globl _start
    .text
_start:
    ud2
