//! Link the root task as a freestanding static ELF at 0x400000 with only
//! PT_LOAD segments (the kernel's loader walks every program header).

fn main() {
    sel4_link::link_at(0x40_0000);
    // The personality server's ELF is embedded (built first by xtask).
    println!("cargo:rerun-if-env-changed=LWK_PERSONALITY_ELF");
    match std::env::var("LWK_PERSONALITY_ELF") {
        Ok(p) => println!("cargo:rerun-if-changed={p}"),
        Err(_) => panic!("LWK_PERSONALITY_ELF is not set: build with `cargo xtask build`"),
    }
    // The variant name is printed in the banner.
    println!("cargo:rerun-if-env-changed=SEL4_KERNEL_VARIANT");
    let v = std::env::var("SEL4_KERNEL_VARIANT").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=LWK_VARIANT={v}");
}
