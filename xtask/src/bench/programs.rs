//! The benchmark programs: `tests/programs/bench_*.c`, built static with
//! `musl-gcc` (or `gcc -static` when musl-gcc is missing) into
//! `target/lwk/bench/bin/`. The same binaries run on both sides.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::layout;
use crate::proc;

/// The programs, by name (`bench_<name>.c`).
pub const NAMES: &[&str] = &["boot", "syscall", "noise", "mem", "touch", "io"];

/// Built programs.
pub struct Programs {
    pub dir: PathBuf,
    /// The compiler used (printed with the table).
    pub compiler: String,
}

impl Programs {
    /// The binary of `name`.
    pub fn exe(&self, name: &str) -> PathBuf {
        self.dir.join(format!("bench_{name}"))
    }
}

/// Builds every program (always: a few seconds, and no stale binary).
pub fn build(out: &Path) -> Result<Programs> {
    let dir = out.join("bin");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let musl = Command::new("musl-gcc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let compiler = if musl { "musl-gcc" } else { "gcc" };
    let src = layout::repo_root().join("tests/programs");
    for name in NAMES {
        let exe = dir.join(format!("bench_{name}"));
        proc::run(
            Command::new(compiler)
                .args(["-static", "-O2", "-Wall", "-o"])
                .arg(&exe)
                .arg(src.join(format!("bench_{name}.c")))
                .arg("-lpthread"),
        )
        .with_context(|| format!("building bench_{name}.c"))?;
    }
    Ok(Programs {
        dir,
        compiler: format!("{compiler} -static -O2"),
    })
}
