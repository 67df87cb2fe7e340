# Uniprocessor kernel.
CONFIG_MAX_NUM_NODES=1
