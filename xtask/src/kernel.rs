//! `cargo xtask kernel`: build seL4 5.0.0 kernel variants.
//!
//! The recipe (each step measured on this machine kind, see
//! `SEL4-5.0-FACTS.md`):
//!
//! 1. `build/kconfig.py` turns the variant's fragments into `.config` and
//!    `autoconf.h` (there is no defconfig for a standalone seL4 kernel);
//! 2. the kernel's own `Makefile`, run from our build directory, with our
//!    config directory first on the include path via `CPPFLAGS` *in the
//!    environment* (else a stale 2016 `autoconf.h` in the source wins);
//! 3. `objcopy` to ELF32, the only format QEMU's multiboot loader takes.
//!
//! A build is skipped when a fingerprint of every input (fragments, the
//! Kconfig script, the source path, this recipe) matches the stamp left by the
//! last successful build; otherwise the variant is rebuilt from scratch, since
//! the kernel's Makefile does not track configuration changes.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::layout::{self, Variant};
use crate::proc::{self, step};
use crate::setup::{self, Toolchain};

/// Compiler flags gcc 12 needs for this kernel: packed-member warnings are
/// errors under `-Werror`, gcc 12's array-bounds check misfires on fixed
/// addresses without `min-pagesize=0`, and SMP code calls `__builtin_popcount`,
/// which without `-mpopcnt` becomes a libgcc call the kernel cannot link.
const CFLAGS: &str = "-Wno-address-of-packed-member --param=min-pagesize=0 -mpopcnt";

/// The platform selection passed to the kernel's Makefile. `TOOLPREFIX=`
/// means the host gcc/binutils (no cross compiler needed on x86_64).
const MAKE_VARS: &[&str] = &["ARCH=x86", "SEL4_ARCH=x86_64", "PLAT=pc99", "TOOLPREFIX="];

/// Bump when the recipe changes in a way the fingerprint cannot see, to force
/// every variant to rebuild once.
const RECIPE_VERSION: u32 = 1;

/// Options of `cargo xtask kernel`.
#[derive(clap::Args)]
pub struct Args {
    /// Variant to build (repeat for several); all four when omitted.
    #[arg(long, short, value_enum)]
    variant: Vec<Variant>,
    /// Rebuild even when the inputs are unchanged.
    #[arg(long)]
    force: bool,
}

/// Runs `cargo xtask kernel`.
pub fn run(args: &Args) -> Result<()> {
    let toolchain = setup::ensure()?;
    let variants = if args.variant.is_empty() {
        Variant::ALL.to_vec()
    } else {
        args.variant.clone()
    };
    for variant in variants {
        build(&toolchain, variant, args.force)?;
    }
    Ok(())
}

/// Builds one variant (unless up to date) and returns its `kernel32.elf`.
pub fn build(toolchain: &Toolchain, variant: Variant, force: bool) -> Result<PathBuf> {
    let dir = variant.kernel_dir();
    let stamp = dir.join("inputs.stamp");
    let fingerprint = fingerprint(toolchain, variant)?;
    let fresh = variant.kernel32().is_file()
        && variant.dot_config().is_file()
        && fs::read_to_string(&stamp).is_ok_and(|s| s == fingerprint);
    if fresh && !force {
        step(format!("kernel {variant}: up to date"));
        return Ok(variant.kernel32());
    }

    step(format!(
        "kernel {variant}: building (kconfig + make, 10-20 s)"
    ));
    let started = Instant::now();
    // Start clean: the Makefile does not notice a changed configuration, and
    // a stale stamp must never survive an interrupted build.
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let build_dir = dir.join("build");
    fs::create_dir_all(&build_dir)
        .with_context(|| format!("cannot create {}", build_dir.display()))?;

    configure(toolchain, variant)?;
    make(toolchain, variant, &build_dir)?;
    proc::run(
        Command::new("objcopy")
            .args(["-O", "elf32-i386"])
            .arg(build_dir.join("kernel.elf"))
            .arg(variant.kernel32()),
    )?;

    fs::write(&stamp, fingerprint).with_context(|| format!("cannot write {}", stamp.display()))?;
    step(format!(
        "kernel {variant}: built in {:.1} s -> {}",
        started.elapsed().as_secs_f64(),
        variant.kernel32().display()
    ));
    Ok(variant.kernel32())
}

/// Step 1: `.config` and `autoconf.h` from the fragments.
fn configure(toolchain: &Toolchain, variant: Variant) -> Result<()> {
    let mut cmd = Command::new(toolchain.python());
    cmd.arg(kconfig_script())
        .arg(&toolchain.sel4_src)
        .arg(variant.config_dir())
        .args(variant.fragments());
    proc::run(&mut cmd).with_context(|| format!("kernel {variant}: configuration failed"))
}

/// Step 2: the kernel's own Makefile, output to `make.log`.
fn make(toolchain: &Toolchain, variant: Variant, build_dir: &Path) -> Result<()> {
    let src = &toolchain.sel4_src;
    let wrapper = write_circular_includes_wrapper(toolchain, build_dir)?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut cmd = Command::new("make");
    cmd.current_dir(build_dir)
        .arg("-f")
        .arg(src.join("Makefile"))
        .arg(format!("SOURCE_ROOT={}", src.display()))
        .args(MAKE_VARS)
        .arg(format!("CIRCULAR_INCLUDES={}", wrapper.display()))
        .arg(format!("-j{jobs}"))
        .env("CPPFLAGS", format!("-I{}", variant.config_dir().display()))
        .env("CFLAGS", CFLAGS)
        .env("PATH", toolchain.path_env()?)
        // Not a sub-make of anything: no inherited jobserver or flags.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL");
    if variant.is_debug() {
        // Without it debug-only declarations (ksKernelEntry) are missing.
        cmd.arg("DEBUG=1");
    }
    let log = variant.kernel_dir().join("make.log");
    proc::run_logged(&mut cmd, &log).with_context(|| format!("kernel {variant}: make failed"))
}

/// Writes the `CIRCULAR_INCLUDES` wrapper: the kernel's checker crashes on
/// the `# 0 "..."` line markers gcc >= 10 emits, so drop those and hand the
/// rest to the unchanged checker.
fn write_circular_includes_wrapper(toolchain: &Toolchain, build_dir: &Path) -> Result<PathBuf> {
    let path = build_dir.join("circular_includes.sh");
    let script = format!(
        "#!/bin/sh\n\
         # Generated by `cargo xtask kernel`: filters gcc >= 10 line markers\n\
         # that seL4 5.0's circular_includes.py cannot parse.\n\
         sed '/^# 0 \"/d' | exec '{python}' '{checker}' \"$@\"\n",
        python = toolchain.python().display(),
        checker = toolchain
            .sel4_src
            .join("tools/circular_includes.py")
            .display(),
    );
    fs::write(&path, script).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", path.display()))?;
    Ok(path)
}

fn kconfig_script() -> PathBuf {
    layout::repo_root().join("build/kconfig.py")
}

/// A fingerprint of every input of a variant's build.
fn fingerprint(toolchain: &Toolchain, variant: Variant) -> Result<String> {
    let mut text = format!(
        "recipe {RECIPE_VERSION}\nvariant {variant}\nsrc {}\ncflags {CFLAGS}\nmake {MAKE_VARS:?}\n",
        toolchain.sel4_src.display()
    );
    let script = kconfig_script();
    for file in variant.fragments().iter().chain([&script]) {
        let content = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let _ = writeln!(text, "{} {:016x}", file.display(), fnv1a(&content));
    }
    let _ = writeln!(text, "all {:016x}", fnv1a(text.as_bytes()));
    Ok(text)
}

/// FNV-1a, 64 bits: stable across Rust releases (unlike `DefaultHasher`),
/// which a stamp kept on disk needs. Change detection only, not security.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
