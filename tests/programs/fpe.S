/* Integer division by zero: #DE, reported as SIGFPE. */
    .globl _start
    .text
_start:
    mov $1, %eax
    xor %edx, %edx
    xor %ecx, %ecx
    div %ecx
    hlt
