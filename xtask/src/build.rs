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
/// The personality server: built first, embedded in the root task (the
/// kernel loads only the root task; the root task loads the personality).
const PERSONALITY_CRATE: &str = "lwk-personality-server";
const PERSONALITY_BIN: &str = "lwk-personality";

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
    let personality =
        build_sel4_crate(toolchain, variant, PERSONALITY_CRATE, PERSONALITY_BIN, &[])?;
    let root_task = build_sel4_crate(
        toolchain,
        variant,
        ROOT_TASK_CRATE,
        ROOT_TASK_CRATE,
        &[("LWK_PERSONALITY_ELF", personality.as_os_str())],
    )?;
    install(
        &personality,
        &variant.dir().join("images").join("lwk-personality.elf"),
    )?;
    install(&root_task, &variant.root_task_image())?;
    let script = simulate::write_script(variant)?;
    step(format!("{variant}: ready, run {}", script.display()));
    Ok(script)
}

/// Builds one seL4-side crate with the seL4 target flags and returns the
/// path of its binary.
fn build_sel4_crate(
    toolchain: &Toolchain,
    variant: Variant,
    krate: &str,
    bin: &str,
    extra_env: &[(&str, &std::ffi::OsStr)],
) -> Result<PathBuf> {
    step(format!("{variant}: building {krate} (cargo)"));
    let target_dir = variant.dir().join("cargo");
    let mut cmd = proc::cargo();
    cmd.args(["build", "--release", "-p", krate, "--target", SEL4_TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", SEL4_RUSTFLAGS)
        .env("SEL4_KERNEL_SRC", &toolchain.sel4_src)
        .env("SEL4_KERNEL_CONFIG", variant.dot_config())
        .env("SEL4_KERNEL_VARIANT", variant.name())
        // Build scripts of the seL4 crates may run libsel4's Python tools.
        .env("PATH", toolchain.path_env()?);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    proc::run(&mut cmd).with_context(|| format!("{variant}: building {krate} failed"))?;
    Ok(target_dir.join(SEL4_TARGET).join("release").join(bin))
}

/// Copies a built binary into the variant's `images/`.
fn install(built: &std::path::Path, image: &std::path::Path) -> Result<()> {
    let images = image.parent().context("image path has no parent")?;
    fs::create_dir_all(images).with_context(|| format!("cannot create {}", images.display()))?;
    fs::copy(built, image)
        .with_context(|| format!("cannot copy {} to {}", built.display(), image.display()))?;
    Ok(())
}
