//! Where things are: the repository, the output tree under `target/lwk/`, and
//! the four kernel variants.
//!
//! Output layout (nothing is ever written into the repository's source
//! folders or into the seL4 source tree):
//!
//! ```text
//! target/lwk/venv/                          Python venv for the kernel build
//! target/lwk/logs/<boot>.log                console of each test boot
//! target/lwk/<variant>/kernel/config/       .config, autoconf.h
//! target/lwk/<variant>/kernel/build/        make output, kernel.elf
//! target/lwk/<variant>/kernel/kernel32.elf  what QEMU's -kernel loads
//! target/lwk/<variant>/cargo/               cargo target dir of seL4-side crates
//! target/lwk/<variant>/images/root-task.elf what QEMU's -initrd loads
//! target/lwk/<variant>/simulate             the generated run script
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

/// The repository root (the workspace holding this crate).
///
/// Taken from the compile-time manifest directory rather than the current
/// directory, so `cargo xtask` works from any subfolder.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
}

/// `target/lwk`: everything this tool produces. Deliberately the normal
/// workspace `target/` (not `CARGO_TARGET_DIR`), so the paths baked into the
/// `simulate` script and printed in logs are predictable.
pub fn lwk_dir() -> PathBuf {
    repo_root().join("target").join("lwk")
}

/// The project-local Python venv (ply, six, tempita, kconfiglib).
pub fn venv_dir() -> PathBuf {
    lwk_dir().join("venv")
}

/// Where test boots leave their console logs.
pub fn logs_dir() -> PathBuf {
    lwk_dir().join("logs")
}

/// The fragment folder: `build/kernel/*.frag`.
pub fn frag_dir() -> PathBuf {
    repo_root().join("build").join("kernel")
}

/// One kernel configuration. Each is a sum of three fragments:
/// `common.frag` + `release.frag|debug.frag` + `1node.frag|smp.frag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Variant {
    /// Release kernel, one node.
    Release,
    /// Release kernel, up to 8 nodes.
    ReleaseSmp,
    /// Debug kernel (debug syscalls, printing), one node.
    Debug,
    /// Debug kernel, up to 8 nodes.
    DebugSmp,
}

impl Variant {
    /// Every variant, in build order.
    pub const ALL: [Variant; 4] = [
        Variant::Release,
        Variant::ReleaseSmp,
        Variant::Debug,
        Variant::DebugSmp,
    ];

    /// The name used on the command line and in `target/lwk/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Release => "release",
            Variant::ReleaseSmp => "release-smp",
            Variant::Debug => "debug",
            Variant::DebugSmp => "debug-smp",
        }
    }

    /// A debug kernel (needs `DEBUG=1` for make).
    pub fn is_debug(self) -> bool {
        matches!(self, Variant::Debug | Variant::DebugSmp)
    }

    /// A kernel built for more than one node.
    pub fn is_smp(self) -> bool {
        matches!(self, Variant::ReleaseSmp | Variant::DebugSmp)
    }

    /// The configuration fragments, in the order they are applied.
    pub fn fragments(self) -> [PathBuf; 3] {
        let kind = if self.is_debug() { "debug" } else { "release" };
        let nodes = if self.is_smp() { "smp" } else { "1node" };
        let dir = frag_dir();
        [
            dir.join("common.frag"),
            dir.join(format!("{kind}.frag")),
            dir.join(format!("{nodes}.frag")),
        ]
    }

    /// The default `-smp` of the `simulate` script for this variant.
    pub fn default_nodes(self) -> u32 {
        if self.is_smp() {
            4
        } else {
            1
        }
    }

    /// `target/lwk/<variant>`.
    pub fn dir(self) -> PathBuf {
        lwk_dir().join(self.name())
    }

    /// `target/lwk/<variant>/kernel`.
    pub fn kernel_dir(self) -> PathBuf {
        self.dir().join("kernel")
    }

    /// The kernel configuration directory (`.config`, `autoconf.h`).
    pub fn config_dir(self) -> PathBuf {
        self.kernel_dir().join("config")
    }

    /// The generated `.config`, read by the seL4-side crates' build scripts.
    pub fn dot_config(self) -> PathBuf {
        self.config_dir().join(".config")
    }

    /// The ELF32 kernel that QEMU's multiboot loader accepts.
    pub fn kernel32(self) -> PathBuf {
        self.kernel_dir().join("kernel32.elf")
    }

    /// The root task image that QEMU passes as the multiboot module.
    pub fn root_task_image(self) -> PathBuf {
        self.dir().join("images").join("root-task.elf")
    }

    /// The generated run script.
    pub fn simulate_script(self) -> PathBuf {
        self.dir().join("simulate")
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
