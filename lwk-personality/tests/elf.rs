//! ELF loader tests: a hand-assembled executable, each refusal provoked by
//! editing it, real static binaries, and fuzzing that proves it never panics.

mod common;

use common::*;
use lwk_personality::loader::elf::{
    self, CodeSource, ElfError, ElfKind, LoadConfig, UniqueHeader, DEFAULT_PIE_BASE,
};
use proptest::prelude::*;

/// An edit of the minimal ELF and the check its refusal must pass.
type Case = (
    &'static str,
    Box<dyn Fn(&mut Vec<u8>)>,
    fn(&ElfError) -> bool,
);

fn mutated(edit: impl FnOnce(&mut Vec<u8>)) -> Result<elf::LoadPlan, ElfError> {
    let mut f = mini_elf();
    edit(&mut f);
    elf::parse(&f)
}

#[test]
fn mini_elf_plan() {
    let f = mini_elf();
    let plan = elf::parse(&f).expect("minimal ELF loads");
    check_plan_invariants(&plan, f.len());
    assert_eq!(plan.kind, ElfKind::Executable);
    assert_eq!(plan.bias, 0);
    assert_eq!(plan.entry, MINI_BASE + MINI_CODE_OFF as u64);
    assert_eq!(plan.segments.len(), 2);
    assert!(plan.segments[0].perms.exec && !plan.segments[0].perms.write);
    assert!(plan.segments[1].perms.write && !plan.segments[1].perms.exec);
    assert_eq!(plan.segments[1].memsz, 0x3000);
    assert_eq!(plan.phdr, Some(MINI_BASE + 64));
    assert_eq!((plan.phent, plan.phnum), (56, 5));
    let tls = plan.tls.expect("PT_TLS recorded");
    assert_eq!(
        (tls.vaddr, tls.filesz, tls.memsz, tls.align),
        (MINI_BASE + 0x1000, 0x10, 0x40, 16)
    );
    assert!(!plan.executable_stack);
    assert_eq!(plan.image_range(), MINI_BASE..MINI_BASE + 0x4000);
    // No section headers: whole text segment minus ELF + program headers.
    assert_eq!(plan.code_source, CodeSource::Segments);
    assert_eq!(plan.code.len(), 1);
    assert_eq!(plan.code[0].offset, 64 + 5 * 56);
}

#[test]
fn phdr_found_without_pt_phdr() {
    let plan = mutated(|f| put32(f, ph_at(0), 0)).unwrap(); // PT_PHDR -> PT_NULL
    assert_eq!(plan.phdr, Some(MINI_BASE + 64));
}

#[test]
fn executable_stack_flag() {
    let plan = mutated(|f| put32(f, ph_at(4) + phdr::P_FLAGS, 7)).unwrap();
    assert!(plan.executable_stack);
}

#[test]
fn static_pie_gets_aligned_bias() {
    let mut f = mini_elf();
    put16(&mut f, ehdr::E_TYPE, 3); // ET_DYN
                                    // Relink at 0: shift every address down by MINI_BASE.
    for i in 0..4 {
        let v = get64(&f, ph_at(i) + phdr::P_VADDR);
        put64(&mut f, ph_at(i) + phdr::P_VADDR, v - MINI_BASE);
    }
    put64(&mut f, ehdr::E_ENTRY, MINI_CODE_OFF as u64);
    let plan = elf::parse(&f).unwrap();
    check_plan_invariants(&plan, f.len());
    assert_eq!(plan.kind, ElfKind::StaticPie);
    assert_eq!(plan.bias, DEFAULT_PIE_BASE);
    assert_eq!(plan.bias % (2 << 20), 0);
    assert_eq!(plan.entry, DEFAULT_PIE_BASE + MINI_CODE_OFF as u64);
    assert_eq!(plan.phdr, Some(DEFAULT_PIE_BASE + 64));

    let cfg = LoadConfig {
        pie_base: 0x7000_0012_3000,
        ..LoadConfig::default()
    };
    let plan = elf::parse_with(&f, &cfg).unwrap();
    assert_eq!(plan.bias, 0x7000_0020_0000);
}

#[test]
fn refusals() {
    use ehdr::*;
    use phdr::*;
    let cases: Vec<Case> = vec![
        ("magic", Box::new(|f| f[1] = b'X'), |e| {
            *e == ElfError::BadMagic
        }),
        ("class", Box::new(|f| f[4] = 1), |e| {
            *e == ElfError::WrongClass(1)
        }),
        ("endianness", Box::new(|f| f[5] = 2), |e| {
            *e == ElfError::WrongEndianness(2)
        }),
        ("ident version", Box::new(|f| f[6] = 0), |e| {
            *e == ElfError::BadVersion(0)
        }),
        ("e_version", Box::new(|f| put32(f, E_VERSION, 7)), |e| {
            *e == ElfError::BadVersion(7)
        }),
        ("machine", Box::new(|f| put16(f, E_MACHINE, 3)), |e| {
            *e == ElfError::WrongMachine(3)
        }),
        ("ET_REL", Box::new(|f| put16(f, E_TYPE, 1)), |e| {
            *e == ElfError::UnsupportedType(1)
        }),
        ("ehsize", Box::new(|f| put16(f, E_EHSIZE, 52)), |e| {
            matches!(
                e,
                ElfError::BadHeaderSize {
                    field: "e_ehsize",
                    ..
                }
            )
        }),
        ("phentsize", Box::new(|f| put16(f, E_PHENTSIZE, 32)), |e| {
            matches!(
                e,
                ElfError::BadHeaderSize {
                    field: "e_phentsize",
                    ..
                }
            )
        }),
        ("PN_XNUM", Box::new(|f| put16(f, E_PHNUM, 0xffff)), |e| {
            *e == ElfError::TooManyProgramHeaders(0xffff)
        }),
        ("no phdrs", Box::new(|f| put16(f, E_PHNUM, 0)), |e| {
            *e == ElfError::NoLoadableSegment
        }),
        (
            "phdr table truncated",
            Box::new(|f| put64(f, E_PHOFF, 0x1000)),
            |e| matches!(e, ElfError::Truncated { .. }),
        ),
        (
            "phoff overflow",
            Box::new(|f| put64(f, E_PHOFF, u64::MAX - 8)),
            |e| matches!(e, ElfError::Truncated { .. }),
        ),
        (
            "no PT_LOAD",
            Box::new(|f| {
                put32(f, ph_at(1), 0);
                put32(f, ph_at(2), 0)
            }),
            |e| *e == ElfError::NoLoadableSegment,
        ),
        (
            "out of file",
            Box::new(|f| put64(f, ph_at(2) + P_FILESZ, 0x2000)),
            |e| matches!(e, ElfError::SegmentOutOfFile { index: 2, .. }),
        ),
        (
            "offset overflow",
            Box::new(|f| put64(f, ph_at(2) + P_OFFSET, u64::MAX)),
            |e| matches!(e, ElfError::SegmentOutOfFile { .. }),
        ),
        (
            "filesz > memsz",
            Box::new(|f| put64(f, ph_at(2) + P_MEMSZ, 0x10)),
            |e| {
                matches!(
                    e,
                    ElfError::FileSizeExceedsMemSize {
                        index: 2,
                        filesz: 0x20,
                        memsz: 0x10
                    }
                )
            },
        ),
        (
            "align not pow2",
            Box::new(|f| put64(f, ph_at(1) + P_ALIGN, 0x3000)),
            |e| {
                matches!(
                    e,
                    ElfError::BadAlignment {
                        index: 1,
                        align: 0x3000
                    }
                )
            },
        ),
        (
            "align absurd",
            Box::new(|f| put64(f, ph_at(1) + P_ALIGN, 1 << 40)),
            |e| matches!(e, ElfError::BadAlignment { .. }),
        ),
        (
            "vaddr/offset incongruent",
            Box::new(|f| put64(f, ph_at(2) + P_VADDR, MINI_BASE + 0x1008)),
            |e| matches!(e, ElfError::Misaligned { index: 2, .. }),
        ),
        (
            "overlap",
            Box::new(|f| {
                put64(f, ph_at(2) + P_VADDR, MINI_BASE);
                put64(f, ph_at(2) + P_OFFSET, 0)
            }),
            |e| {
                matches!(
                    e,
                    ElfError::Overlap {
                        first: 1,
                        second: 2
                    } | ElfError::Overlap {
                        first: 2,
                        second: 1
                    }
                )
            },
        ),
        (
            "vaddr overflow",
            Box::new(|f| put64(f, ph_at(2) + P_VADDR, u64::MAX - 0xfff)),
            |e| matches!(e, ElfError::AddressOverflow { index: 2 }),
        ),
        (
            "kernel half",
            Box::new(|f| put64(f, ph_at(2) + P_VADDR, 0xffff_8000_0000_1000)),
            |e| matches!(e, ElfError::OutsideUserSpace { index: 2, .. }),
        ),
        (
            "page zero",
            Box::new(|f| put64(f, ph_at(1) + P_VADDR, 0)),
            |e| matches!(e, ElfError::OutsideUserSpace { index: 1, .. }),
        ),
        (
            "huge bss",
            Box::new(|f| put64(f, ph_at(2) + P_MEMSZ, 1 << 46)),
            |e| matches!(e, ElfError::TooLarge { what: "image", .. }),
        ),
        (
            "entry in data",
            Box::new(|f| put64(f, E_ENTRY, MINI_BASE + 0x1000)),
            |e| {
                *e == ElfError::EntryNotExecutable {
                    entry: MINI_BASE + 0x1000,
                }
            },
        ),
        (
            "entry past file bytes",
            Box::new(|f| put64(f, E_ENTRY, MINI_BASE + 0x800)),
            |e| matches!(e, ElfError::EntryNotExecutable { .. }),
        ),
        (
            "entry in bss",
            Box::new(|f| put64(f, E_ENTRY, MINI_BASE + 0x2000)),
            |e| matches!(e, ElfError::EntryNotExecutable { .. }),
        ),
        (
            "PT_PHDR unmapped",
            Box::new(|f| put64(f, ph_at(0) + P_VADDR, 0x90_0000)),
            |e| *e == ElfError::PhdrNotLoaded { vaddr: 0x90_0000 },
        ),
        (
            "two PT_TLS",
            Box::new(|f| put32(f, ph_at(0), PT_TLS)),
            |e| *e == ElfError::Duplicate(UniqueHeader::Tls),
        ),
        (
            "TLS filesz > memsz",
            Box::new(|f| put64(f, ph_at(3) + P_MEMSZ, 1)),
            |e| matches!(e, ElfError::BadTls(_)),
        ),
        (
            "TLS not loaded",
            Box::new(|f| put64(f, ph_at(3) + P_VADDR, 0x90_0000)),
            |e| matches!(e, ElfError::BadTls(_)),
        ),
        (
            "TLS out of file",
            Box::new(|f| put64(f, ph_at(3) + P_OFFSET, 0x10_0000)),
            |e| matches!(e, ElfError::BadTls(_)),
        ),
    ];
    for (name, edit, expected) in cases {
        let err = mutated(edit).expect_err(name);
        assert!(expected(&err), "{name}: unexpected {err:?}");
        assert!(!err.to_string().is_empty());
    }
    for len in [0, 3, 10, 63] {
        let f = mini_elf();
        let err = elf::parse(&f[..len]).unwrap_err();
        assert!(
            matches!(err, ElfError::BadMagic | ElfError::Truncated { .. }),
            "{len}: {err:?}"
        );
    }
}

#[test]
fn interpreter_is_named() {
    let mut f = mini_elf();
    let path = b"/lib64/ld-linux-x86-64.so.2\0";
    let at = f.len();
    f.extend_from_slice(path);
    put32(&mut f, ph_at(4), PT_INTERP);
    put64(&mut f, ph_at(4) + phdr::P_OFFSET, at as u64);
    put64(&mut f, ph_at(4) + phdr::P_FILESZ, path.len() as u64);
    let err = elf::parse(&f).unwrap_err();
    assert_eq!(
        err,
        ElfError::DynamicExecutable {
            interpreter: "/lib64/ld-linux-x86-64.so.2".into()
        }
    );
    assert!(err.to_string().contains("/lib64/ld-linux-x86-64.so.2"));
}

#[test]
fn real_dynamic_binaries_are_refused_by_interpreter() {
    let dynamic = [
        (
            "gcc",
            build_hello("gcc-dynamic", "gcc", &[]),
            "/lib64/ld-linux-x86-64.so.2",
        ),
        // Debian's musl-gcc turns -static-pie into a dynamic PIE.
        (
            "musl-gcc -static-pie",
            build_hello("musl-static-pie", "musl-gcc", &["-static-pie", "-fPIE"]),
            "/lib/ld-musl-x86_64.so.1",
        ),
    ];
    for (label, path, interp) in dynamic {
        let Some(path) = path else { continue };
        match elf::parse(&std::fs::read(path).unwrap()) {
            Err(ElfError::DynamicExecutable { interpreter }) => {
                assert_eq!(interpreter, interp, "{label}")
            }
            other => eprintln!("note: {label} is not dynamic here: {other:?}"),
        }
    }
}

#[test]
fn real_static_binaries_load() {
    for (label, path) in real_static_binaries() {
        let f = std::fs::read(&path).unwrap();
        let plan = elf::parse(&f).unwrap_or_else(|e| panic!("{label}: {e}"));
        check_plan_invariants(&plan, f.len());
        assert!(plan.phdr.is_some(), "{label}: AT_PHDR unknown");
        assert_eq!(plan.code_source, CodeSource::Sections, "{label}");
        assert!(!plan.executable_stack, "{label}");
        eprintln!(
            "{label}: {:?} bias {:#x} entry {:#x} {} segments, tls {:?}, phdr {:#x}, {} code regions",
            plan.kind,
            plan.bias,
            plan.entry,
            plan.segments.len(),
            plan.tls.map(|t| (t.filesz, t.memsz, t.align)),
            plan.phdr.unwrap_or(0),
            plan.code.len()
        );
        if label.contains("pie") {
            assert_eq!(plan.kind, ElfKind::StaticPie);
        }
        if label.contains("busybox") {
            assert!(plan.tls.is_some(), "busybox has PT_TLS");
        }
    }
}

/// Real ELF bytes to mutate: the musl hello if it can be built, else the
/// hand-made one.
fn seed() -> Vec<u8> {
    static SEED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SEED.get_or_init(|| {
        build_hello("musl-seed", "musl-gcc", &["-static", "-s"])
            .and_then(|p| std::fs::read(p).ok())
            .unwrap_or_else(mini_elf)
    })
    .clone()
}

/// Parses, and on success checks the invariants and runs the rewriter: the
/// whole pipeline must never panic, whatever the bytes.
fn parse_never_panics(f: &mut [u8]) {
    if let Ok(plan) = elf::parse(f) {
        check_plan_invariants(&plan, f.len());
        lwk_personality::loader::rewrite::rewrite_image(f, &plan).expect("plan fits its file");
    }
}

/// Mutations aimed at the headers, where the interesting numbers live.
fn header_edits(len: usize) -> impl Strategy<Value = Vec<(usize, u64, u8)>> {
    let hot = (0usize..64 + 12 * 56).prop_map(move |o| o.min(len.saturating_sub(1)));
    let anywhere = 0..len;
    let offset = prop_oneof![3 => hot, 1 => anywhere];
    // (offset, value, width in bytes)
    prop::collection::vec(
        (
            offset,
            any::<u64>(),
            prop::sample::select(vec![1u8, 2, 4, 8]),
        ),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_elf_never_panics(edits in header_edits(seed().len()), cut in prop::option::of(0usize..1 << 16)) {
        let mut f = seed();
        for (at, value, width) in edits {
            let width = usize::from(width).min(f.len() - at);
            f[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
        }
        if let Some(cut) = cut {
            f.truncate(cut);
        }
        parse_never_panics(&mut f);
    }

    #[test]
    fn mutated_mini_elf_never_panics(edits in header_edits(mini_elf().len())) {
        let mut f = mini_elf();
        for (at, value, width) in edits {
            let width = usize::from(width).min(f.len() - at);
            f[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
        }
        parse_never_panics(&mut f);
    }

    #[test]
    fn random_bytes_never_panic(mut f in prop::collection::vec(any::<u8>(), 0..2048)) {
        parse_never_panics(&mut f);
    }

    #[test]
    fn random_bytes_after_a_valid_ident_never_panic(tail in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut f = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        f.extend(tail);
        parse_never_panics(&mut f);
    }
}
