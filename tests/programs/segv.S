/* Reads address 0: a VM fault the personality reports as SIGSEGV. */
    .globl _start
    .text
_start:
    xor %eax, %eax
    mov (%rax), %rbx
    hlt
