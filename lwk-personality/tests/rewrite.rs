//! The syscall rewriter on real static binaries, with `objdump -d` as the
//! oracle: the rewritten sites must be exactly the `syscall` instructions
//! objdump finds.

mod common;

use common::*;
use lwk_personality::loader::elf::{self, CodeSource};
use lwk_personality::loader::rewrite::{self, UD2};

#[test]
fn mini_elf_rewrites_both_syscalls() {
    let mut f = mini_elf();
    let plan = elf::parse(&f).unwrap();
    let report = rewrite::rewrite_image(&mut f, &plan).unwrap();
    let code = MINI_BASE + MINI_CODE_OFF as u64;
    assert_eq!(report.sites(), &[code + 7, code + 16]);
    assert_eq!(&f[MINI_CODE_OFF + 7..MINI_CODE_OFF + 9], &UD2);
    assert_eq!(&f[MINI_CODE_OFF + 16..MINI_CODE_OFF + 18], &UD2);
}

#[test]
fn plan_from_another_file_is_an_error() {
    let f = mini_elf();
    let plan = elf::parse(&f).unwrap();
    let mut short = f[..0x100].to_vec();
    assert!(rewrite::rewrite_image(&mut short, &plan).is_err());
}

#[test]
fn real_binaries_match_objdump() {
    for (label, path) in real_static_binaries() {
        let original = std::fs::read(&path).unwrap();
        let plan = elf::parse(&original).unwrap();
        let mut image = original.clone();
        let report = rewrite::rewrite_image(&mut image, &plan).unwrap();
        eprintln!(
            "{label}: {} syscall sites rewritten, {} unsupported, {} undecodable bytes, {} bytes swept ({:?})",
            report.count(),
            report.unsupported().len(),
            report.undecodable_bytes(),
            report.scanned_bytes(),
            plan.code_source,
        );
        assert!(report.count() > 0, "{label}: no syscall found");

        // Every site is a ud2 now, was a syscall before, and only those
        // bytes (plus nop'd prefixes) changed.
        let file_offset = |addr: u64| {
            let s = plan
                .segments
                .iter()
                .find(|s| s.vaddr <= addr && addr < s.vaddr + s.filesz)
                .unwrap();
            (s.offset + (addr - s.vaddr)) as usize
        };
        for &site in report.sites() {
            let at = file_offset(site);
            assert_eq!(&image[at..at + 2], &UD2, "{label} {site:#x}");
            assert_eq!(
                &original[at..at + 2],
                &rewrite::SYSCALL,
                "{label} {site:#x}"
            );
        }
        let changed = original.iter().zip(&image).filter(|(a, b)| a != b).count();
        assert_eq!(
            changed,
            report.count(),
            "{label}: one byte (05 -> 0B) per unprefixed site"
        );

        // Nothing is left to rewrite.
        let mut again = image.clone();
        assert_eq!(
            rewrite::rewrite_image(&mut again, &plan).unwrap().count(),
            0,
            "{label}"
        );

        if let Some(mut expected) = objdump_syscalls(&path) {
            // objdump shows link-time addresses; a static-PIE is biased.
            expected.iter_mut().for_each(|a| *a += plan.bias);
            eprintln!(
                "{label}: objdump -d finds {} syscall instructions",
                expected.len()
            );
            assert_eq!(
                report.sites(),
                expected.as_slice(),
                "{label}: sites differ from objdump"
            );
        }
    }
}

/// Without section headers the whole executable segment is swept. Measures
/// how that compares with the section-exact sweep (informative: a segment
/// sweep may also decode `.rodata` or padding).
#[test]
fn segment_sweep_without_section_headers() {
    for (label, path) in real_static_binaries() {
        let with_sections = std::fs::read(&path).unwrap();
        let exact = {
            let plan = elf::parse(&with_sections).unwrap();
            rewrite::rewrite_image(&mut with_sections.clone(), &plan).unwrap()
        };
        let mut f = with_sections.clone();
        put64(&mut f, ehdr::E_SHOFF, 0);
        put16(&mut f, ehdr::E_SHNUM, 0);
        put16(&mut f, ehdr::E_SHSTRNDX, 0);
        let plan = elf::parse(&f).unwrap();
        assert_eq!(plan.code_source, CodeSource::Segments);
        let swept = rewrite::rewrite_image(&mut f, &plan).unwrap();
        let missed = exact
            .sites()
            .iter()
            .filter(|s| !swept.is_rewritten(**s))
            .count();
        let extra = swept
            .sites()
            .iter()
            .filter(|s| !exact.is_rewritten(**s))
            .count();
        eprintln!(
            "{label}: segment sweep {} sites ({} undecodable bytes) vs section sweep {}: {missed} missed, {extra} extra",
            swept.count(),
            swept.undecodable_bytes(),
            exact.count()
        );
    }
}
