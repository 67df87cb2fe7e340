//! Code generator for the `sel4` crate.
//!
//! Object type ids and invocation labels of seL4 move with the kernel
//! configuration (`HUGE_PAGE` shifts frame ids; `SetAffinity` exists only on
//! SMP kernels and shifts every later label). Hand-written numbers would
//! silently call the wrong method, so everything numeric is generated here,
//! at build time, from the very `.config` and interface XML of the kernel that
//! will boot. The generator is a plain host library so that it can be unit
//! tested, and checked against libsel4's own Python generators.
//!
//! Pipeline: [`config::KernelConfig`] (the `.config`) → [`cond`] (evaluates
//! the XML `condition` attributes) → [`api::Api`] (interfaces, methods,
//! labels) → [`marshal`] (where each parameter goes in the message) →
//! [`emit`] (Rust source).

#![forbid(unsafe_code)]

pub mod api;
pub mod cond;
pub mod config;
pub mod emit;
pub mod marshal;
pub mod objects;
pub mod syscalls;

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while generating bindings.
#[derive(Debug)]
pub enum GenError {
    /// A file could not be read.
    Io(PathBuf, std::io::Error),
    /// An XML file is not well formed.
    Xml(PathBuf, roxmltree::Error),
    /// The XML is well formed but not what the generator expects.
    Schema(String),
    /// A `condition` attribute could not be evaluated.
    Condition(String),
    /// The `.config` lacks a value we need, or has a bad one.
    Config(String),
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::Io(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            GenError::Xml(p, e) => write!(f, "bad XML in {}: {e}", p.display()),
            GenError::Schema(m) => write!(f, "unexpected interface XML: {m}"),
            GenError::Condition(m) => write!(f, "cannot evaluate condition: {m}"),
            GenError::Config(m) => write!(f, "kernel .config: {m}"),
        }
    }
}

impl std::error::Error for GenError {}

/// Paths of the kernel's interface files, relative to the seL4 source root,
/// in the order libsel4 numbers them: generic, then sel4_arch, then arch.
pub const INTERFACE_FILES: [&str; 3] = [
    "libsel4/include/interfaces/sel4.xml",
    "libsel4/sel4_arch_include/x86_64/interfaces/sel4arch.xml",
    "libsel4/arch_include/x86/interfaces/sel4arch.xml",
];

/// The syscall list, relative to the seL4 source root.
pub const SYSCALL_FILE: &str = "libsel4/include/api/syscall.xml";

/// All generated files, as (file name, contents).
pub struct Generated {
    pub files: Vec<(&'static str, String)>,
    /// Every input read, for `cargo:rerun-if-changed`.
    pub inputs: Vec<PathBuf>,
}

/// Generates every binding file for the kernel at `src` configured by
/// `config_path`.
pub fn generate(src: &Path, config_path: &Path) -> Result<Generated, GenError> {
    let config = config::KernelConfig::load(config_path)?;
    let mut inputs = vec![config_path.to_path_buf()];
    let mut texts = Vec::new();
    for rel in INTERFACE_FILES {
        let p = src.join(rel);
        texts.push((p.clone(), read(&p)?));
        inputs.push(p);
    }
    let api = api::Api::from_files(&texts, &config)?;
    let sys_path = src.join(SYSCALL_FILE);
    let sys_text = read(&sys_path)?;
    let syscalls = syscalls::Syscalls::parse(&sys_path, &sys_text, &config)?;
    inputs.push(sys_path);
    let objects = objects::object_types(&config);
    let files = vec![
        ("config.rs", emit::config(&config)),
        ("labels.rs", emit::labels(&api)),
        ("object_types.rs", emit::object_types(&objects)),
        ("syscall_ids.rs", emit::syscall_ids(&syscalls)),
        ("invocations.rs", emit::invocations(&api)?),
    ];
    Ok(Generated { files, inputs })
}

fn read(p: &Path) -> Result<String, GenError> {
    std::fs::read_to_string(p).map_err(|e| GenError::Io(p.to_path_buf(), e))
}
