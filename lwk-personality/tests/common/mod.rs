//! Test helpers shared by the integration tests: a hand-assembled minimal
//! ELF, real static binaries built at test time (skipped with a note when the
//! toolchain is absent), `objdump` as an oracle, and the plan invariants.
#![allow(dead_code)] // each test binary uses a different subset

use lwk_personality::loader::elf::{LoadPlan, MIN_USER_ADDR, USER_END};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Offsets of ELF64 header fields.
pub mod ehdr {
    pub const E_TYPE: usize = 16;
    pub const E_MACHINE: usize = 18;
    pub const E_VERSION: usize = 20;
    pub const E_ENTRY: usize = 24;
    pub const E_PHOFF: usize = 32;
    pub const E_SHOFF: usize = 40;
    pub const E_EHSIZE: usize = 52;
    pub const E_PHENTSIZE: usize = 54;
    pub const E_PHNUM: usize = 56;
    pub const E_SHNUM: usize = 60;
    pub const E_SHSTRNDX: usize = 62;
}

/// Offsets of ELF64 program header fields.
pub mod phdr {
    pub const P_TYPE: usize = 0;
    pub const P_FLAGS: usize = 4;
    pub const P_OFFSET: usize = 8;
    pub const P_VADDR: usize = 16;
    pub const P_FILESZ: usize = 32;
    pub const P_MEMSZ: usize = 40;
    pub const P_ALIGN: usize = 48;
}

pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PT_TLS: u32 = 7;
pub const PT_GNU_STACK: u32 = 0x6474_e551;

/// One program header of [`mini_elf`].
#[derive(Clone, Copy)]
pub struct Ph {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
pub fn get64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Offset of program header `i` in a [`mini_elf`] (table right after the
/// ELF header).
pub fn ph_at(i: usize) -> usize {
    64 + i * 56
}

/// Builds an ELF64 x86_64 file: header, program headers, then `body`
/// placed at `body_offset`.
pub fn raw_elf(e_type: u16, entry: u64, phs: &[Ph], body_offset: usize, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; (body_offset + body.len()).max(64 + 56 * phs.len())];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // ELFCLASS64
    f[5] = 1; // little-endian
    f[6] = 1; // EV_CURRENT
    put16(&mut f, ehdr::E_TYPE, e_type);
    put16(&mut f, ehdr::E_MACHINE, 62); // EM_X86_64
    put32(&mut f, ehdr::E_VERSION, 1);
    put64(&mut f, ehdr::E_ENTRY, entry);
    put64(&mut f, ehdr::E_PHOFF, 64);
    put16(&mut f, ehdr::E_EHSIZE, 64);
    put16(&mut f, ehdr::E_PHENTSIZE, 56);
    put16(&mut f, ehdr::E_PHNUM, phs.len() as u16);
    for (i, p) in phs.iter().enumerate() {
        let at = ph_at(i);
        put32(&mut f, at + phdr::P_TYPE, p.p_type);
        put32(&mut f, at + phdr::P_FLAGS, p.flags);
        put64(&mut f, at + phdr::P_OFFSET, p.offset);
        put64(&mut f, at + phdr::P_VADDR, p.vaddr);
        put64(&mut f, at + 24, p.vaddr);
        put64(&mut f, at + phdr::P_FILESZ, p.filesz);
        put64(&mut f, at + phdr::P_MEMSZ, p.memsz);
        put64(&mut f, at + phdr::P_ALIGN, p.align);
    }
    f[body_offset..body_offset + body.len()].copy_from_slice(body);
    f
}

/// Code of the minimal executable: `mov eax, 60; xor edi, edi; syscall`
/// twice (exit(0)), 18 bytes.
pub const MINI_CODE: [u8; 18] = [
    0xB8, 60, 0, 0, 0, 0x31, 0xFF, 0x0F, 0x05, 0xB8, 60, 0, 0, 0, 0x31, 0xFF, 0x0F, 0x05,
];
pub const MINI_BASE: u64 = 0x40_0000;
pub const MINI_CODE_OFF: usize = 0x200;
pub const MINI_DATA_OFF: usize = 0x1000;

/// A minimal static `ET_EXEC` with everything the loader looks at: an RX
/// segment at offset 0 (headers + code), an RW segment with `.bss`, a TLS
/// template inside it, `PT_PHDR` and `PT_GNU_STACK`. No section headers.
pub fn mini_elf() -> Vec<u8> {
    let phs = [
        Ph {
            p_type: PT_PHDR,
            flags: 4,
            offset: 64,
            vaddr: MINI_BASE + 64,
            filesz: 5 * 56,
            memsz: 5 * 56,
            align: 8,
        },
        Ph {
            p_type: PT_LOAD,
            flags: 5,
            offset: 0,
            vaddr: MINI_BASE,
            filesz: (MINI_CODE_OFF + MINI_CODE.len()) as u64,
            memsz: (MINI_CODE_OFF + MINI_CODE.len()) as u64,
            align: 0x1000,
        },
        Ph {
            p_type: PT_LOAD,
            flags: 6,
            offset: MINI_DATA_OFF as u64,
            vaddr: MINI_BASE + 0x1000,
            filesz: 0x20,
            memsz: 0x3000,
            align: 0x1000,
        },
        Ph {
            p_type: PT_TLS,
            flags: 4,
            offset: MINI_DATA_OFF as u64,
            vaddr: MINI_BASE + 0x1000,
            filesz: 0x10,
            memsz: 0x40,
            align: 16,
        },
        Ph {
            p_type: PT_GNU_STACK,
            flags: 6,
            offset: 0,
            vaddr: 0,
            filesz: 0,
            memsz: 0,
            align: 16,
        },
    ];
    let mut body = vec![0u8; MINI_DATA_OFF + 0x20 - MINI_CODE_OFF];
    body[..MINI_CODE.len()].copy_from_slice(&MINI_CODE);
    body[MINI_DATA_OFF - MINI_CODE_OFF..].fill(0xAA);
    raw_elf(
        2,
        MINI_BASE + MINI_CODE_OFF as u64,
        &phs,
        MINI_CODE_OFF,
        &body,
    )
}

/// Where test-built binaries go.
fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lwk-personality-bins");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const HELLO_C: &str = "#include <stdio.h>\n\
    int main(int argc, char **argv) { printf(\"hello %d %s\\n\", argc, argv[0]); return 0; }\n";

/// Compiles the hello program with `compiler` and `flags` into `name`, or
/// prints why not and returns `None`. Tests run in parallel threads and
/// processes, so each build goes to a private name and is renamed into place
/// (atomic): a reader never sees a half-written binary.
pub fn build_hello(name: &str, compiler: &str, flags: &[&str]) -> Option<PathBuf> {
    static UNIQUE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = out_dir();
    let out = dir.join(name);
    let private = format!(
        "{name}.{}.{}",
        std::process::id(),
        UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let src = dir.join(format!("{private}.c"));
    let tmp = dir.join(&private);
    std::fs::write(&src, HELLO_C).unwrap();
    let result = Command::new(compiler)
        .args(flags)
        .arg("-O2")
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .output();
    let _ = std::fs::remove_file(&src);
    match result {
        Ok(o) if o.status.success() => {
            std::fs::rename(&tmp, &out).unwrap();
            Some(out)
        }
        Ok(o) => {
            eprintln!(
                "note: skipping {name}: {compiler} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("note: skipping {name}: {compiler} unavailable ({e})");
            None
        }
    }
}

/// A real file, or a note that it is absent.
pub fn existing(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("note: skipping {path}: not present (apt-get install busybox-static)");
        None
    }
}

/// The static binaries available on this machine, by label.
pub fn real_static_binaries() -> Vec<(&'static str, PathBuf)> {
    let candidates = [
        (
            "musl-gcc -static",
            build_hello("musl-static", "musl-gcc", &["-static"]),
        ),
        (
            "gcc -static",
            build_hello("gcc-static", "gcc", &["-static"]),
        ),
        (
            "gcc -static-pie",
            build_hello("gcc-static-pie", "gcc", &["-static-pie", "-fPIE"]),
        ),
        (
            "gcc -static -z noseparate-code",
            build_hello(
                "gcc-static-nosep",
                "gcc",
                &["-static", "-Wl,-z,noseparate-code"],
            ),
        ),
        ("busybox-static", existing("/bin/busybox")),
    ];
    candidates
        .into_iter()
        .filter_map(|(l, p)| p.map(|p| (l, p)))
        .collect()
}

/// Addresses of the `syscall` instructions `objdump -d` finds, sorted, or
/// `None` (with a note) when objdump is missing.
pub fn objdump_syscalls(path: &Path) -> Option<Vec<u64>> {
    let out = match Command::new("objdump")
        .arg("-d")
        .arg("--no-show-raw-insn")
        .arg(path)
        .output()
    {
        Ok(o) if o.status.success() => o,
        _ => {
            eprintln!(
                "note: objdump unavailable; not cross-checking {}",
                path.display()
            );
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut addrs: Vec<u64> = text
        .lines()
        .filter_map(|l| {
            let (addr, rest) = l.split_once(":\t")?;
            (rest.split_whitespace().next() == Some("syscall"))
                .then(|| u64::from_str_radix(addr.trim(), 16).ok())
                .flatten()
        })
        .collect();
    addrs.sort_unstable();
    Some(addrs)
}

/// The invariants every accepted plan must satisfy, whatever the input.
pub fn check_plan_invariants(plan: &LoadPlan, file_len: usize) {
    assert!(!plan.segments.is_empty());
    for s in &plan.segments {
        assert!(s.memsz > 0 && s.filesz <= s.memsz);
        assert!(s.vaddr >= MIN_USER_ADDR && s.vaddr + s.memsz <= USER_END);
        assert!(s.offset + s.filesz <= file_len as u64);
    }
    for w in plan.segments.windows(2) {
        assert!(w[0].vaddr + w[0].memsz <= w[1].vaddr, "overlap or unsorted");
    }
    assert!(plan
        .segments
        .iter()
        .any(|s| s.perms.exec && (s.vaddr..s.vaddr + s.filesz).contains(&plan.entry)));
    for c in &plan.code {
        assert!(c.offset + c.len <= file_len as u64);
        assert!(plan
            .segments
            .iter()
            .any(|s| s.perms.exec && s.vaddr <= c.vaddr && c.vaddr + c.len <= s.vaddr + s.filesz));
    }
    let r = plan.image_range();
    assert!(r.start < r.end && r.start.is_multiple_of(4096) && r.end.is_multiple_of(4096));
}

pub mod backing;
pub mod daemon;
pub mod fake;
pub mod host_errnos;
pub mod host_numbers;
