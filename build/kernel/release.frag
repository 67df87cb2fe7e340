# Release kernel: no debug syscalls, so foreign Linux binaries can run safely.
# CONFIG_DEBUG_BUILD is not set
# CONFIG_PRINTING is not set
