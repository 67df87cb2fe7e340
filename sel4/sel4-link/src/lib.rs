//! For the build scripts of seL4-side binaries (root task, components):
//! link a freestanding static ELF at `base` with the shared linker script
//! (`sel4-root-task/link.ld`), whose program headers are only `PT_LOAD`
//! segments — the kernel's loader walks every program header.

#![forbid(unsafe_code)]

use std::path::Path;

/// Prints the `cargo:` lines that link this package's binaries at `base`.
pub fn link_at(base: u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sel4-root-task/link.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-Wl,--build-id=none",
        "-Wl,-z,norelro",
        "-Wl,-z,noexecstack",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--defsym=__image_base={base:#x}");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
}
