/* A `syscall` (0f 05) hidden inside another instruction's immediate, so
 * the linear-sweep rewriter cannot see it; jumping into the middle executes
 * it. With RDX = 0 the kernel sees an unknown seL4 syscall: the job must
 * end with a diagnostic naming the address, and the system go on. */
    .globl _start
    .text
_start:
    xor %edx, %edx
    mov $60, %eax
    jmp hidden + 2
hidden:
    movabs $0x9090909090c3050f, %rbx
    hlt
