//! Generates the bindings for the kernel named by the environment.
//!
//! Contract (set by `cargo xtask build`): `SEL4_KERNEL_SRC` is the seL4
//! source root (from the `sel4-sys` =0.0.28 crate), `SEL4_KERNEL_CONFIG` the
//! `.config` of the kernel that will boot. Output goes to `OUT_DIR` only.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=SEL4_KERNEL_SRC");
    println!("cargo:rerun-if-env-changed=SEL4_KERNEL_CONFIG");
    println!("cargo:rustc-check-cfg=cfg(sel4_debug)");
    println!("cargo:rustc-check-cfg=cfg(sel4_smp)");
    let (Some(src), Some(cfg)) = (
        std::env::var_os("SEL4_KERNEL_SRC"),
        std::env::var_os("SEL4_KERNEL_CONFIG"),
    ) else {
        panic!(
            "the sel4 crate is generated from a kernel: set SEL4_KERNEL_SRC and SEL4_KERNEL_CONFIG \
             (cargo xtask build does this)"
        );
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let generated = sel4_gen::generate(&PathBuf::from(src), &PathBuf::from(&cfg))
        .unwrap_or_else(|e| panic!("generating seL4 bindings: {e}"));
    for input in &generated.inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    for (name, text) in &generated.files {
        std::fs::write(out.join(name), text).unwrap_or_else(|e| panic!("writing {name}: {e}"));
    }
    let config = sel4_gen::config::KernelConfig::load(std::path::Path::new(&cfg)).expect("config");
    if config.is_defined("DEBUG_BUILD") {
        println!("cargo:rustc-cfg=sel4_debug");
    }
    if config.int("MAX_NUM_NODES").unwrap_or(1) > 1 {
        println!("cargo:rustc-cfg=sel4_smp");
    }
}
