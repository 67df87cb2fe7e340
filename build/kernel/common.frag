# Kernel configuration shared by every variant (seL4 5.0.0, x86_64 pc99).
# Values measured to boot under QEMU TCG: see shared/design/SEL4-5.0-FACTS.md.
CONFIG_ARCH_X86=y
CONFIG_ARCH_X86_64=y
CONFIG_PLAT_PC99=y
# QEMU TCG has no FSGSBASE instructions by default on the seL4 CPU line.
CONFIG_FSGSBASE_MSR=y
# PCID makes the kernel halt at boot under TCG.
# CONFIG_SUPPORT_PCID is not set
# QEMU 7.2 TCG has no x2APIC.
CONFIG_XAPIC=y
# 1 GiB frames for the LWK memory pool (needs +pdpe1gb on the CPU line).
CONFIG_HUGE_PAGE=y
# No VT-x under TCG: boot fails with it.
# CONFIG_VTX is not set
# A 2^16-slot root CNode: the root task's image frames (its heap describes
# the whole system), one cap per pool frame (1000+ for a 2 GiB guest) and
# the personality's objects all live there; 2^12 is too small.
CONFIG_ROOT_CNODE_SIZE_BITS=16
