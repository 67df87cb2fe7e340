//! `cargo xtask setup`: make a fresh Debian/Ubuntu machine able to build and
//! run the system.
//!
//! Three things are needed and each is verified cheaply on every call (well
//! under a second when all is present), so every other command can call
//! [`ensure`] first and setup stays idempotent without trusting a stamp file:
//!
//! 1. Debian packages (the tools the seL4 build container provides);
//! 2. a project-local Python venv with the kernel build's PyPI modules;
//! 3. the seL4 5.0.0 kernel source, which reaches us only as the `seL4/`
//!    directory of the crates.io crate `sel4-sys` =0.0.28, fetched through
//!    the fetch-only manifest `build/kernel-src/Cargo.toml`.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::layout;
use crate::proc::{self, step};

/// Debian packages the build, the tests and the test programs need.
const DEBIAN_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "libxml2-utils",
    "musl-tools",
    "busybox-static",
    "python3-venv",
    "make",
    "gcc",
    "binutils",
    // `dot`, to render the capDL graph as SVG (`cargo xtask capdl verify`).
    "graphviz",
    // Decompresses the Linux VM's kernel (the bzImage's xz payload).
    "xz-utils",
];

/// PyPI packages for the kernel build (its generators and our Kconfig step),
/// pinned so every machine runs the same generator code.
const PYTHON_PACKAGES: &[&str] = &[
    "ply==3.11",
    "six==1.17.0",
    "tempita==0.6.0",
    "kconfiglib==14.1.0",
];

/// The import check that proves the venv is complete.
const PYTHON_IMPORTS: &str = "import ply, six, tempita, kconfiglib";

/// The crate that vendors the seL4 kernel, and the kernel version it holds.
const SEL4_CRATE: &str = "sel4-sys";
const SEL4_CRATE_VERSION: &str = "0.0.28";
const SEL4_VERSION: &str = "5.0.0";

/// Options of `cargo xtask setup`.
#[derive(clap::Args)]
pub struct Args {}

/// What later steps need from setup.
pub struct Toolchain {
    /// The seL4 kernel source tree (read-only: never written to).
    pub sel4_src: PathBuf,
    /// The venv's `bin/`, to go first in `PATH` wherever `python` is called.
    pub venv_bin: PathBuf,
}

impl Toolchain {
    /// The venv's Python interpreter.
    pub fn python(&self) -> PathBuf {
        self.venv_bin.join("python")
    }

    /// `PATH` with the venv first.
    pub fn path_env(&self) -> Result<OsString> {
        proc::path_with(&self.venv_bin)
    }
}

/// Runs `cargo xtask setup`.
pub fn run(_args: &Args) -> Result<Toolchain> {
    let toolchain = ensure()?;
    step(format!(
        "setup complete: seL4 {SEL4_VERSION} at {}, python venv at {}",
        toolchain.sel4_src.display(),
        layout::venv_dir().display()
    ));
    Ok(toolchain)
}

/// Checks everything and installs what is missing.
pub fn ensure() -> Result<Toolchain> {
    ensure_debian_packages()?;
    let venv_bin = ensure_venv()?;
    let sel4_src = ensure_kernel_source()?;
    Ok(Toolchain { sel4_src, venv_bin })
}

/// Installs missing Debian packages: directly as root, through `sudo` when
/// that needs no password, and otherwise fails with the command to run.
fn ensure_debian_packages() -> Result<()> {
    let missing = missing_packages()?;
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    let sudo = !is_root
        && Command::new("sudo")
            .args(["-n", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !is_root && !sudo {
        bail!(
            "missing Debian packages: {list}\ninstall them with:\n  \
             sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends {list}"
        );
    }
    let apt = |args: &[&str]| {
        let mut cmd = if sudo {
            let mut c = Command::new("sudo");
            c.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            c
        } else {
            let mut c = Command::new("apt-get");
            c.env("DEBIAN_FRONTEND", "noninteractive");
            c
        };
        cmd.args(args).stdin(Stdio::null());
        cmd
    };
    step("apt-get update");
    proc::run(&mut apt(&["update", "-q"]))?;
    step(format!("installing Debian packages: {list}"));
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(&missing);
    proc::run(&mut install)?;
    let still = missing_packages()?;
    if !still.is_empty() {
        bail!("apt-get did not install: {}", still.join(" "));
    }
    Ok(())
}

/// The Debian packages of [`DEBIAN_PACKAGES`] not installed.
fn missing_packages() -> Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    for &pkg in DEBIAN_PACKAGES {
        // dpkg-query exits non-zero for a package it has never heard of;
        // either way only "install ok installed" counts as present.
        let out = Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", pkg])
            .stderr(Stdio::null())
            .output()
            .context("cannot run dpkg-query: setup supports Debian/Ubuntu only")?;
        if String::from_utf8_lossy(&out.stdout).trim() != "install ok installed" {
            missing.push(pkg);
        }
    }
    Ok(missing)
}

/// Creates or completes the venv and returns its `bin/`.
fn ensure_venv() -> Result<PathBuf> {
    let venv = layout::venv_dir();
    let bin = venv.join("bin");
    let python = bin.join("python");
    if python_imports_ok(&python) {
        return Ok(bin);
    }
    if !python_runs(&python) {
        step(format!("creating python venv {}", venv.display()));
        fs::create_dir_all(layout::lwk_dir())
            .with_context(|| format!("cannot create {}", layout::lwk_dir().display()))?;
        proc::run(
            Command::new(system_python())
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        )
        .context("cannot create the python venv (is python3-venv installed?)")?;
    }
    step(format!(
        "installing python packages: {}",
        PYTHON_PACKAGES.join(" ")
    ));
    proc::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PYTHON_PACKAGES),
    )?;
    if !python_imports_ok(&python) {
        bail!("{} still cannot `{PYTHON_IMPORTS}`", python.display());
    }
    Ok(bin)
}

/// Debian's own Python when present (the one `python3-venv` completes),
/// else whatever `python3` is on PATH.
fn system_python() -> PathBuf {
    let debian = Path::new("/usr/bin/python3");
    if debian.exists() {
        debian.to_path_buf()
    } else {
        PathBuf::from("python3")
    }
}

fn python_runs(python: &Path) -> bool {
    python_ok(python, "pass")
}

fn python_imports_ok(python: &Path) -> bool {
    python_ok(python, PYTHON_IMPORTS)
}

fn python_ok(python: &Path, code: &str) -> bool {
    Command::new(python)
        .args(["-c", code])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fetches `sel4-sys` if needed and returns its `seL4/` directory, located
/// through `cargo metadata` (never by guessing where `CARGO_HOME` is).
fn ensure_kernel_source() -> Result<PathBuf> {
    let manifest = layout::repo_root().join("build/kernel-src/Cargo.toml");
    let metadata = |offline: bool| {
        let mut cmd = proc::cargo();
        cmd.args(["metadata", "--format-version", "1", "--locked"])
            .arg("--manifest-path")
            .arg(&manifest);
        if offline {
            cmd.arg("--offline").stderr(Stdio::null());
        }
        cmd.output()
            .with_context(|| format!("cannot run `{}`", proc::display(&cmd)))
            .map(|out| out.status.success().then_some(out.stdout))
    };
    let json = match metadata(true)? {
        Some(json) => json,
        None => {
            step(format!(
                "fetching the seL4 {SEL4_VERSION} source (crate {SEL4_CRATE} ={SEL4_CRATE_VERSION})"
            ));
            proc::run(
                proc::cargo()
                    .args(["fetch", "--locked", "--manifest-path"])
                    .arg(&manifest),
            )?;
            metadata(false)?
                .with_context(|| format!("cargo metadata failed for {}", manifest.display()))?
        }
    };
    let src = sel4_dir_from_metadata(&json)?;
    let version_file = src.join("VERSION");
    let version = fs::read_to_string(&version_file)
        .with_context(|| format!("cannot read {}", version_file.display()))?;
    if version.trim() != SEL4_VERSION {
        bail!(
            "{} says seL4 {}, expected {SEL4_VERSION}",
            version_file.display(),
            version.trim()
        );
    }
    Ok(src)
}

/// Finds `<sel4-sys package dir>/seL4` in `cargo metadata` JSON.
fn sel4_dir_from_metadata(json: &[u8]) -> Result<PathBuf> {
    let meta: serde_json::Value =
        serde_json::from_slice(json).context("cannot parse cargo metadata output")?;
    let packages = meta["packages"]
        .as_array()
        .context("cargo metadata: no `packages` array")?;
    let pkg = packages
        .iter()
        .find(|p| p["name"] == SEL4_CRATE && p["version"] == SEL4_CRATE_VERSION)
        .with_context(|| {
            format!("cargo metadata does not list {SEL4_CRATE} {SEL4_CRATE_VERSION}")
        })?;
    let manifest = pkg["manifest_path"]
        .as_str()
        .context("cargo metadata: package without manifest_path")?;
    let dir = Path::new(manifest)
        .parent()
        .context("manifest_path has no parent")?
        .join("seL4");
    if !dir.join("Makefile").is_file() {
        bail!("{} holds no seL4 kernel Makefile", dir.display());
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sel4_dir_in_metadata() {
        let dir = std::env::temp_dir().join(format!("xtask-meta-{}", std::process::id()));
        fs::create_dir_all(dir.join("seL4")).unwrap();
        fs::write(dir.join("seL4/Makefile"), "").unwrap();
        let json = serde_json::json!({
            "packages": [
                {"name": "bitflags", "version": "0.7.0", "manifest_path": "/x/Cargo.toml"},
                {"name": "sel4-sys", "version": "0.0.28",
                 "manifest_path": dir.join("Cargo.toml").to_str().unwrap()},
            ]
        });
        let found = sel4_dir_from_metadata(json.to_string().as_bytes()).unwrap();
        assert_eq!(found, dir.join("seL4"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_metadata_without_the_crate() {
        let json = br#"{"packages": [{"name": "sel4-sys", "version": "0.0.27", "manifest_path": "/x/Cargo.toml"}]}"#;
        assert!(sel4_dir_from_metadata(json).is_err());
    }
}
