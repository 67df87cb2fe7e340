//! Running external programs with errors that say what was run.
//!
//! Every command this tool runs goes through here, so a failure always names
//! the exact command line (and, for quiet steps, where its output went).

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Prints a progress line. Every step that can take more than a few seconds
/// announces itself, so a slow machine never looks hung.
pub fn step(msg: impl AsRef<str>) {
    eprintln!("[xtask] {}", msg.as_ref());
}

/// The command line as a shell user would type it (for messages only).
pub fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs `cmd` with inherited stdio and fails unless it exits with status 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", display(cmd));
    }
    Ok(())
}

/// Runs `cmd` with its stdout and stderr sent to `log`, for chatty steps
/// (make). On failure the end of the log is printed and the error names it.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    let file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = file
        .try_clone()
        .with_context(|| format!("cannot reopen {}", log.display()))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if !status.success() {
        print_tail(log, 30);
        bail!(
            "`{}` failed ({status}); full output in {}",
            display(cmd),
            log.display()
        );
    }
    Ok(())
}

/// Prints the last `n` lines of a file to stderr (best effort).
fn print_tail(path: &Path, n: usize) {
    let Ok(file) = File::open(path) else { return };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    for line in &lines[lines.len().saturating_sub(n)..] {
        eprintln!("    {line}");
    }
}

/// `PATH` with `dir` in front: the kernel's Makefile and its tools' shebangs
/// call plain `python`, which must be the venv's.
pub fn path_with(dir: &Path) -> Result<OsString> {
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).context("cannot build PATH")
}

/// A `cargo` command, using the same cargo that runs this tool.
///
/// `CARGO_ENCODED_RUSTFLAGS` is removed: it would silently override the
/// `RUSTFLAGS` we pass to seL4-side builds.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.env_remove("CARGO_ENCODED_RUSTFLAGS")
        .current_dir(crate::layout::repo_root());
    cmd
}
