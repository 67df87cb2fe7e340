# Debug kernel: seL4_DebugPutChar, seL4_DebugSnapshot... Never run foreign
# (Linux) programs on it: syscall numbers -9..-13 are live.
CONFIG_DEBUG_BUILD=y
CONFIG_PRINTING=y
