/* The smallest Linux program: exit(42) through the syscall instruction.
 * Built with `cc -nostdlib -static`. */
    .globl _start
    .text
_start:
    mov $60, %eax
    mov $42, %edi
    syscall
    hlt
