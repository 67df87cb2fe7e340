#!/usr/bin/env python3
"""Generate the seL4 kernel's .config and autoconf.h from its own Kconfig.

There is no defconfig for a standalone seL4 5.0 kernel, so we run kconfiglib
on a tiny top-level Kconfig that sources the kernel's and libsel4's, then apply
our fragments in order (later fragments win).

usage: kconfig.py KERNEL_SRC OUT_DIR FRAGMENT...
writes OUT_DIR/Kconfig, OUT_DIR/.config and OUT_DIR/autoconf.h
"""
import os
import sys

import kconfiglib


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    src, out, frags = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    os.environ["KERNEL_ROOT_PATH"] = src
    os.environ["KERNEL_PATH"] = src
    top = os.path.join(out, "Kconfig")
    with open(top, "w") as f:
        f.write('mainmenu "LWK seL4 kernel"\n')
        f.write('source "$KERNEL_ROOT_PATH/Kconfig"\n')
        f.write('source "$KERNEL_ROOT_PATH/libsel4/Kconfig"\n')
    kconf = kconfiglib.Kconfig(top, warn=False)
    for i, frag in enumerate(frags):
        # replace=False: each fragment adds to what the previous ones set.
        kconf.load_config(frag, replace=(i == 0))
    kconf.write_config(os.path.join(out, ".config"))
    kconf.write_autoconf(os.path.join(out, "autoconf.h"))
    # Every value a fragment asked for must have taken: a typo or an unmet
    # dependency would otherwise pass silently.
    bad = []
    for frag in frags:
        for line in open(frag):
            line = line.strip()
            if line.startswith("CONFIG_") and "=" in line:
                name, val = line[len("CONFIG_"):].split("=", 1)
                sym = kconf.syms.get(name)
                if sym is None or sym.str_value != val.strip('"'):
                    bad.append(f"{frag}: {name}={val} (got {sym.str_value if sym else 'unknown symbol'})")
            elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
                name = line[len("# CONFIG_"):-len(" is not set")]
                sym = kconf.syms.get(name)
                if sym is not None and sym.str_value not in ("n", ""):
                    bad.append(f"{frag}: {name} should be off (got {sym.str_value})")
    if bad:
        print("kconfig: fragment values not applied:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
