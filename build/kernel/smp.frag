# SMP kernel: up to 8 nodes; QEMU's -smp decides how many come up.
CONFIG_MAX_NUM_NODES=8
