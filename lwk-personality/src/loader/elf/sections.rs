//! Which bytes of the file are code, for the `syscall` rewriter.
//!
//! A loader does not need section headers, and a hostile or stripped-by-`sstrip`
//! file may have none or bogus ones, so nothing here can make a load fail: if
//! the section headers are missing or inconsistent with the segments we fall
//! back to sweeping whole executable segments.
//!
//! Why bother with sections at all: older linkers (and `-z noseparate-code`)
//! put `.rodata`, `.eh_frame` and the ELF headers into the executable segment.
//! Decoding those as instructions can "find" a `0F 05` inside a constant and
//! rewriting it would corrupt data. The executable sections are exactly what
//! `objdump -d` disassembles, so with them the sweep sees only real code.
//!
//! Section headers are only a hint about where code is, and a lying file can
//! hurt only itself: a `syscall` hidden outside the claimed sections stays
//! unrewritten and is caught at run time as an `UnknownSyscall` fault (see
//! `rewrite.rs`); code claimed over data gets that data "rewritten".

use super::{CodeRegion, CodeSource, Segment, EHDR_SIZE};
use alloc::vec::Vec;
use core::ops::Range;
use goblin::container::Ctx;
use goblin::elf::header::Header;
use goblin::elf::section_header::{SectionHeader, SHF_ALLOC, SHF_EXECINSTR, SHT_NOBITS};

/// Size of an ELF64 section header.
const SHDR_SIZE: u64 = 64;
/// Real executables have a few dozen sections; more is not worth parsing.
const MAX_SECTIONS: u64 = 4096;

/// The code regions of a validated image and where they came from.
pub(super) fn code_regions(
    file: &[u8],
    header: &Header,
    ctx: Ctx,
    bias: u64,
    segments: &[Segment],
    phdr_table: &Range<u64>,
) -> (Vec<CodeRegion>, CodeSource) {
    match from_sections(file, header, ctx, bias, segments) {
        Some(code) => (code, CodeSource::Sections),
        None => (from_segments(segments, phdr_table), CodeSource::Segments),
    }
}

fn from_sections(
    file: &[u8],
    header: &Header,
    ctx: Ctx,
    bias: u64,
    segments: &[Segment],
) -> Option<Vec<CodeRegion>> {
    let count = u64::from(header.e_shnum);
    if header.e_shoff == 0 || count == 0 || count > MAX_SECTIONS {
        return None;
    }
    if u64::from(header.e_shentsize) != SHDR_SIZE {
        return None;
    }
    let end = header.e_shoff.checked_add(count * SHDR_SIZE)?;
    if end > file.len() as u64 {
        return None;
    }
    let shdrs = SectionHeader::parse(file, header.e_shoff as usize, count as usize, ctx).ok()?;

    let mut code = Vec::new();
    for s in &shdrs {
        let wanted = SHF_ALLOC | SHF_EXECINSTR;
        if s.sh_flags & u64::from(wanted) != u64::from(wanted)
            || s.sh_type == SHT_NOBITS
            || s.sh_size == 0
        {
            continue;
        }
        let vaddr = s.sh_addr.checked_add(bias)?;
        // The section must be file-backed code of an executable segment, at
        // the file offset the segment mapping implies; otherwise the headers
        // lie and we trust none of them.
        let seg = segments
            .iter()
            .find(|seg| seg.perms.exec && seg.holds_file_bytes(vaddr, s.sh_size))?;
        if seg.offset + (vaddr - seg.vaddr) != s.sh_offset {
            return None;
        }
        code.push(CodeRegion {
            vaddr,
            offset: s.sh_offset,
            len: s.sh_size,
        });
    }
    if code.is_empty() {
        return None;
    }
    code.sort_by_key(|r| r.vaddr);
    let disjoint = code.windows(2).all(|w| w[0].vaddr + w[0].len <= w[1].vaddr);
    disjoint.then_some(code)
}

/// Whole executable segments, skipping the ELF header and the program header
/// table where a segment begins with them (the usual text segment at offset 0).
fn from_segments(segments: &[Segment], phdr_table: &Range<u64>) -> Vec<CodeRegion> {
    let headers = [0..EHDR_SIZE, phdr_table.clone()];
    segments
        .iter()
        .filter(|s| s.perms.exec && s.filesz > 0)
        .filter_map(|s| {
            let mut start = s.offset;
            let end = s.offset + s.filesz;
            // Two passes: the header ranges can appear in either order.
            for _ in 0..2 {
                for h in &headers {
                    if h.start <= start && start < h.end {
                        start = h.end;
                    }
                }
            }
            (start < end).then(|| CodeRegion {
                vaddr: s.vaddr + (start - s.offset),
                offset: start,
                len: end - start,
            })
        })
        .collect()
}
