//! `cargo xtask build`: one variant, from kernel to run script.
//!
//! Stages, each with one input and one output: setup → kernel (`.config`,
//! `kernel32.elf`) → the seL4-side crates, whose build scripts generate
//! bindings from that very `.config` → `images/root-task.elf` → `simulate`.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::layout::Variant;
use crate::proc::{self, step};
use crate::setup::{self, Toolchain};
use crate::{kernel, simulate};

/// Target flags of every seL4-side crate, kept in this one constant and
/// passed per invocation, never through a global cargo config that would
/// also hit host crates. The linker script and link arguments come from the
/// crates' own build scripts.
///
/// - `panic=abort`: no unwinding runtime exists under seL4;
/// - `relocation-model=static` with `+crt-static`: a static, non-PIE ELF the
///   kernel's loader maps as is;
/// - `force-frame-pointers`: readable backtraces from a debugger or a fault.
pub const SEL4_RUSTFLAGS: &str = "-C panic=abort -C relocation-model=static \
     -C target-feature=+crt-static -C force-frame-pointers=yes";

/// The host triple, named explicitly: with `--target`, cargo applies
/// `RUSTFLAGS` to the target crates only, not to build scripts.
pub const SEL4_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The seL4-side binary that becomes the root task image.
const ROOT_TASK_CRATE: &str = "root-task";

/// Options of `cargo xtask build`.
#[derive(clap::Args)]
pub struct Args {
    /// Kernel variant to build for.
    #[arg(long, short, value_enum, default_value_t = Variant::ReleaseSmp)]
    pub variant: Variant,
}

/// Runs `cargo xtask build`.
pub fn run(args: &Args) -> Result<PathBuf> {
    let toolchain = setup::ensure()?;
    build(&toolchain, args.variant)
}

/// Builds everything a variant needs to boot and returns its `simulate`
/// script.
pub fn build(toolchain: &Toolchain, variant: Variant) -> Result<PathBuf> {
    kernel::build(toolchain, variant, false)?;
    build_root_task(toolchain, variant)?;
    let script = simulate::write_script(variant)?;
    step(format!("{variant}: ready, run {}", script.display()));
    Ok(script)
}

/// Builds the root task with the seL4 target flags and copies it to
/// `images/root-task.elf`.
fn build_root_task(toolchain: &Toolchain, variant: Variant) -> Result<()> {
    step(format!("{variant}: building {ROOT_TASK_CRATE} (cargo)"));
    let target_dir = variant.dir().join("cargo");
    let mut cmd = proc::cargo();
    cmd.args([
        "build",
        "--release",
        "-p",
        ROOT_TASK_CRATE,
        "--target",
        SEL4_TARGET,
    ])
    .arg("--target-dir")
    .arg(&target_dir)
    .env("RUSTFLAGS", SEL4_RUSTFLAGS)
    .env("SEL4_KERNEL_SRC", &toolchain.sel4_src)
    .env("SEL4_KERNEL_CONFIG", variant.dot_config())
    .env("SEL4_KERNEL_VARIANT", variant.name())
    // Build scripts of the seL4 crates may run libsel4's Python tools.
    .env("PATH", toolchain.path_env()?);
    proc::run(&mut cmd).with_context(|| format!("{variant}: building {ROOT_TASK_CRATE} failed"))?;

    let built = target_dir
        .join(SEL4_TARGET)
        .join("release")
        .join(ROOT_TASK_CRATE);
    let image = variant.root_task_image();
    let images = image.parent().context("image path has no parent")?;
    fs::create_dir_all(images).with_context(|| format!("cannot create {}", images.display()))?;
    fs::copy(&built, &image)
        .with_context(|| format!("cannot copy {} to {}", built.display(), image.display()))?;
    Ok(())
}
