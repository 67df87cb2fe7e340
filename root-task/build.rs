//! Link the root task as a freestanding static ELF at 0x400000 with only
//! PT_LOAD segments (the kernel's loader walks every program header).

fn main() {
    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = dir.join("../sel4/sel4-root-task/link.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=SEL4_KERNEL_VARIANT");
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-Wl,--build-id=none",
        "-Wl,--defsym=__image_base=0x400000",
        "-Wl,-z,norelro",
        "-Wl,-z,noexecstack",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    // The personality server's ELF is embedded (built first by xtask).
    println!("cargo:rerun-if-env-changed=LWK_PERSONALITY_ELF");
    match std::env::var("LWK_PERSONALITY_ELF") {
        Ok(p) => println!("cargo:rerun-if-changed={p}"),
        Err(_) => panic!("LWK_PERSONALITY_ELF is not set: build with `cargo xtask build`"),
    }
    // The variant name is printed in the banner.
    let v = std::env::var("SEL4_KERNEL_VARIANT").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=LWK_VARIANT={v}");
}
