//! The memory manager against a fake backing: the allocation patterns of
//! musl and glibc, large allocations touched throughout, exhaustion, fixed
//! mappings, `mremap`, and what the trap handler and loader ask of it.

mod common;

use common::backing::FakeBacking;
use lwk_personality::loader::elf::{self, CodeSource, ElfKind, LoadPlan, Perms, Segment};
use lwk_personality::mm::{
    Access, AddressSpace, Layout, MapRequest, MmError, PageSize, Placement, Prot, Remap, VmaKind,
};
use lwk_personality::syscall::Errno;

const K4: u64 = 4096;
const M2: u64 = 2 << 20;
const G1: u64 = 1 << 30;

fn request(len: u64, prot: Prot, placement: Placement) -> MapRequest {
    MapRequest {
        len,
        prot,
        kind: VmaKind::Anon,
        placement,
    }
}

fn anon(len: u64) -> MapRequest {
    request(len, Prot::RW, Placement::Anywhere { hint: 0 })
}

/// A process with the minimal test executable loaded.
fn loaded(b: &mut FakeBacking) -> AddressSpace {
    let plan = elf::parse(&common::mini_elf()).unwrap();
    let mut s = AddressSpace::new(Layout::default());
    s.load_image(b, &plan).unwrap();
    s
}

/// Writes a byte in every 4 KiB of the range, as an application touching
/// its memory would.
fn touch(b: &mut FakeBacking, start: u64, len: u64) {
    for a in (start..start + len).step_by(K4 as usize) {
        b.store(a, 0x5A);
    }
}

fn page_sizes(s: &AddressSpace) -> Vec<PageSize> {
    s.pages().iter().map(|(_, p)| p.frame.size).collect()
}

#[test]
fn image_pages_follow_segment_rights() {
    let mut b = FakeBacking::new(64, 64, 0);
    let mut s = loaded(&mut b);
    // Text RX at 0x400000, data RW 0x401000..0x404000: one 2 MiB slot with
    // two sets of rights, hence 4 KiB pages, each with its own rights.
    assert_eq!(page_sizes(&s), vec![PageSize::Small4K; 4]);
    assert_eq!(b.lookup(0x40_0000).map(|m| m.2), Some(Prot::RX));
    assert_eq!(b.lookup(0x40_3fff).map(|m| m.2), Some(Prot::RW));
    assert_eq!(b.lookup(0x40_4000), None, "nothing past the image");
    assert_eq!(s.brk_start(), 0x60_0000);
    assert_eq!(s.brk(), 0x60_0000);

    // The loader fills text through the direct map; the application may not.
    let runs: Vec<_> = s
        .phys_runs(0x40_0ff0, 0x20, Access::Loader)
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 2, "two 4 KiB frames");
    assert_eq!(runs.iter().map(|r| r.1).sum::<u64>(), 0x20);
    assert!(s.phys_runs(0x40_0000, 8, Access::Write).is_err());
    assert!(s.phys_runs(0x40_0000, 8, Access::Read).is_ok());
    assert_eq!(
        s.phys_runs(0x40_3ff8, 16, Access::Read).err(),
        Some(Errno::EFAULT)
    );

    let stack = s.map_stack(&mut b, false).unwrap();
    assert_eq!(stack, 0x7fef_ff80_0000..0x7ff0_0000_0000);
    assert_eq!(s.pages().len(), 4 + 4, "8 MiB of stack in four 2 MiB pages");
    touch(&mut b, stack.start, stack.end - stack.start);
    assert_eq!(b.faults, 0);
    b.check_matches(&s);
    assert!(matches!(
        s.load_image(&mut b, &elf::parse(&common::mini_elf()).unwrap()),
        Err(MmError::Exists)
    ));
}

/// A synthetic plan: a large text segment, then read-only data sharing its
/// last page, then data.
fn big_plan() -> LoadPlan {
    let seg = |index, vaddr: u64, memsz: u64, read, write, exec| Segment {
        index,
        vaddr,
        memsz,
        offset: 0,
        filesz: 0,
        align: K4,
        perms: Perms { read, write, exec },
    };
    LoadPlan {
        kind: ElfKind::Executable,
        bias: 0,
        entry: 0x40_1000,
        segments: vec![
            seg(0, 0x40_0000, 0x60_0800, true, false, true),
            seg(1, 0xa0_0800, 0x1000, true, false, false),
            seg(2, 0xa0_2000, 0x10_0000, true, true, false),
        ],
        tls: None,
        phdr: None,
        phent: 56,
        phnum: 3,
        executable_stack: false,
        stack_size_hint: None,
        code: vec![],
        code_source: CodeSource::Segments,
    }
}

#[test]
fn image_uses_large_pages_where_rights_are_uniform() {
    let mut b = FakeBacking::new(1024, 64, 0);
    let mut s = AddressSpace::new(Layout::default());
    s.load_image(&mut b, &big_plan()).unwrap();
    let large: Vec<u64> = s
        .pages()
        .iter()
        .filter(|(_, p)| p.frame.size == PageSize::Large2M)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        large,
        [0x40_0000, 0x60_0000, 0x80_0000],
        "the whole slots of text"
    );
    assert_eq!(
        b.lookup(0xa0_0000).map(|m| m.2),
        Some(Prot::RX),
        "shared page: union"
    );
    assert_eq!(b.lookup(0xa0_1000).map(|m| m.2), Some(Prot::READ));
    assert_eq!(b.lookup(0xa0_2000).map(|m| m.2), Some(Prot::RW));
    assert_eq!(s.brk_start(), 0xc0_0000);
    b.check_matches(&s);
    // RELRO-style mprotect on 4 KiB pages is exact.
    s.mprotect(&mut b, 0xa0_2000, K4, Prot::READ).unwrap();
    assert_eq!(b.lookup(0xa0_2000).map(|m| m.2), Some(Prot::READ));
    assert_eq!(b.lookup(0xa0_3000).map(|m| m.2), Some(Prot::RW));
    b.check_matches(&s);
}

/// glibc's main arena: the heap grows with `brk` in steps of 132 KiB and
/// more, and trims it when the top is free.
#[test]
fn glibc_brk_heap() {
    let mut b = FakeBacking::new(16, 64, 0);
    b.dirty_free_frames();
    let mut s = loaded(&mut b);
    let start = s.set_brk(&mut b, 0).unwrap();
    assert_eq!(start, 0x60_0000);
    assert_eq!(
        s.set_brk(&mut b, start + 0x21000).unwrap(),
        start + 0x21000,
        "exact value kept"
    );
    assert_eq!(s.pages().len(), 4 + 1);
    touch(&mut b, start, 0x21000);
    let mut top = start + 0x21000;
    for _ in 0..40 {
        top += 0x4_2000;
        assert_eq!(s.set_brk(&mut b, top).unwrap(), top);
    }
    touch(&mut b, start, top - start);
    assert_eq!(b.faults, 0);
    let pages = (top - start).div_ceil(M2) as usize;
    assert_eq!(s.pages().len(), 4 + pages, "2 MiB steps");
    assert_eq!(
        s.vmas().iter().filter(|v| v.kind == VmaKind::Brk).count(),
        1,
        "one heap VMA"
    );

    // Trim to 1 MiB: whole pages go back; the page holding the break stays.
    assert_eq!(
        s.set_brk(&mut b, start + (1 << 20)).unwrap(),
        start + (1 << 20)
    );
    assert_eq!(s.pages().len(), 4 + 1);
    // Regrow: glibc's calloc trusts fresh heap to be zero.
    assert_eq!(s.set_brk(&mut b, start + 3 * M2).unwrap(), start + 3 * M2);
    assert_eq!(
        b.load(start + (1 << 20)),
        Some(0),
        "bytes past the old break reread as zero"
    );
    assert_eq!(
        b.load(start + 2 * M2),
        Some(0),
        "a reused dirty frame is zeroed"
    );
    assert_eq!(b.load(start), Some(0x5A), "the kept heap keeps its data");
    // Below the start, or into a mapping: the break stays.
    assert_eq!(s.set_brk(&mut b, start - 1).unwrap(), start + 3 * M2);
    s.mmap(
        &mut b,
        request(K4, Prot::RW, Placement::Fixed(start + 5 * M2)),
    )
    .unwrap();
    assert_eq!(s.set_brk(&mut b, start + 6 * M2).unwrap(), start + 3 * M2);
    b.check_matches(&s);
}

/// Both libcs serve large requests with their own mmap, and free them with
/// munmap: each mapping is freed whole.
#[test]
fn large_malloc_chunks_are_mmaps() {
    let mut b = FakeBacking::new(16, 64, 0);
    let mut s = loaded(&mut b);
    let before = b.free_count(PageSize::Large2M);
    let sizes = [128 << 10, 132 << 10, 1 << 20, 3 << 20, 5 << 20];
    let mut chunks = vec![];
    for len in sizes {
        let at = s.mmap(&mut b, anon(len)).unwrap();
        assert_eq!(at % M2, 0, "placed on a 2 MiB boundary");
        touch(&mut b, at, len);
        chunks.push((at, len));
    }
    assert_eq!(b.faults, 0);
    assert!(
        chunks.windows(2).all(|w| w[1].0 + w[1].1 <= w[0].0),
        "top-down, no overlap"
    );
    let used: u64 = sizes.iter().map(|l| l.div_ceil(M2)).sum();
    assert_eq!(before - b.free_count(PageSize::Large2M), used as usize);
    for (at, len) in chunks {
        s.munmap(&mut b, at, len).unwrap();
    }
    assert_eq!(b.free_count(PageSize::Large2M), before);
    b.check_matches(&s);
}

/// musl's and glibc's thread stacks: a PROT_NONE reservation, then the
/// part below the guard made read-write.
#[test]
fn thread_stack_with_guard() {
    let mut b = FakeBacking::new(16, 64, 0);
    let mut s = loaded(&mut b);
    let size = 132 << 10;
    let at = s
        .mmap(
            &mut b,
            request(size + K4, Prot::NONE, Placement::Anywhere { hint: 0 }),
        )
        .unwrap();
    assert_eq!(s.pages().len(), 4, "a reservation takes no frame");
    assert!(!s.populated(at, K4));
    s.mprotect(&mut b, at + K4, size, Prot::RW).unwrap();
    assert_eq!(s.pages().len(), 5);
    touch(&mut b, at + K4, size);
    assert_eq!(b.faults, 0);
    // Approximation: the guard shares the 2 MiB page, which is read-write.
    assert!(s.populated(at, K4));
    assert!(
        s.phys_runs(at, 8, Access::Read).is_err(),
        "but the personality honours it"
    );
    s.munmap(&mut b, at, size + K4).unwrap();
    assert_eq!(s.pages().len(), 4);
    b.check_matches(&s);
}

/// glibc's secondary arenas: 128 MiB reserved, trimmed to a 64 MiB-aligned
/// half, and committed bit by bit with mprotect.
#[test]
fn glibc_arena_reservation() {
    let mut b = FakeBacking::new(16, 64, 0);
    let mut s = loaded(&mut b);
    let heap_max = 64 << 20;
    let at = s
        .mmap(
            &mut b,
            request(2 * heap_max, Prot::NONE, Placement::Anywhere { hint: 0 }),
        )
        .unwrap();
    let aligned = (at + heap_max - 1) & !(heap_max - 1);
    if aligned > at {
        s.munmap(&mut b, at, aligned - at).unwrap();
    }
    s.munmap(
        &mut b,
        aligned + heap_max,
        at + 2 * heap_max - (aligned + heap_max),
    )
    .unwrap();
    assert_eq!(s.pages().len(), 4);
    s.mprotect(&mut b, aligned, 132 << 10, Prot::RW).unwrap();
    assert_eq!(s.pages().len(), 5);
    s.mprotect(&mut b, aligned, 3 << 20, Prot::RW).unwrap();
    assert_eq!(s.pages().len(), 6);
    touch(&mut b, aligned, 3 << 20);
    assert_eq!(b.faults, 0);
    assert_eq!(
        s.vmas().iter().filter(|v| v.start >= aligned).count(),
        2,
        "committed + reserved"
    );
    // Shrinking the heap: glibc maps PROT_NONE over the top again.
    s.mmap(
        &mut b,
        request(1 << 20, Prot::NONE, Placement::Fixed(aligned + (2 << 20))),
    )
    .unwrap();
    assert_eq!(
        s.pages().len(),
        5,
        "the second page held only the released part"
    );
    b.check_matches(&s);
}

#[test]
fn allocate_and_touch_256_mib() {
    let mut b = FakeBacking::new(0, 256, 0);
    let mut s = AddressSpace::new(Layout::default());
    let len = 256 << 20;
    let at = s.mmap(&mut b, anon(len)).unwrap();
    assert_eq!(s.pages().len(), 128);
    assert!(s.populated(at, len));
    touch(&mut b, at, len);
    assert_eq!(b.faults, 0, "no demand paging: every touch finds a mapping");
    assert_eq!(b.load(at + len), None, "one past the end faults");
    assert_eq!(b.faults, 1);
    b.check_matches(&s);
}

#[test]
fn gigabyte_mappings_use_huge_pages_when_the_pool_has_them() {
    let mut b = FakeBacking::new(0, 1024, 1);
    let mut s = AddressSpace::new(Layout::default());
    let a = s.mmap(&mut b, anon(G1 + M2)).unwrap();
    assert_eq!(a % G1, 0);
    assert_eq!(
        page_sizes(&s)
            .iter()
            .filter(|&&p| p == PageSize::Huge1G)
            .count(),
        1
    );
    assert_eq!(s.pages().len(), 2);
    // The pool has no more gigabytes: 2 MiB frames instead.
    let c = s.mmap(&mut b, anon(G1)).unwrap();
    assert_eq!(s.pages().len(), 2 + 512);
    touch(&mut b, c, G1);
    assert_eq!(b.faults, 0);
    b.check_matches(&s);
    s.munmap(&mut b, a, G1 + M2).unwrap();
    assert_eq!(b.free_count(PageSize::Huge1G), 1);
    b.check_matches(&s);
}

#[test]
fn out_of_memory_is_enomem_and_takes_nothing() {
    let mut b = FakeBacking::new(0, 4, 0);
    let mut s = AddressSpace::new(Layout::default());
    assert_eq!(s.mmap(&mut b, anon(10 << 20)), Err(MmError::NoMemory));
    assert_eq!(
        b.free_count(PageSize::Large2M),
        4,
        "nothing kept from a failed call"
    );
    let a = s.mmap(&mut b, anon(6 << 20)).unwrap();
    let r = s
        .mmap(
            &mut b,
            request(4 << 20, Prot::NONE, Placement::Anywhere { hint: 0 }),
        )
        .unwrap();
    assert_eq!(
        s.mprotect(&mut b, r, 4 << 20, Prot::RW),
        Err(MmError::NoMemory)
    );
    assert_eq!(
        s.vmas().iter().filter(|v| !v.backed).count(),
        1,
        "still a reservation"
    );
    assert_eq!(
        s.mremap(&mut b, a, 6 << 20, 10 << 20, Remap::MayMove),
        Err(MmError::NoMemory)
    );
    assert_eq!(b.free_count(PageSize::Large2M), 1);
    b.check_matches(&s);
    // The backing running out of paging structures: ENOMEM, frames returned.
    b.fail_maps_after = Some(0);
    assert_eq!(s.mmap(&mut b, anon(K4)), Err(MmError::NoMemory));
    assert_eq!(b.free_count(PageSize::Large2M), 1);
    b.check_matches(&s);
}

#[test]
fn fixed_mappings() {
    let mut b = FakeBacking::new(0, 64, 0);
    let mut s = AddressSpace::new(Layout::default());
    let a = s.mmap(&mut b, anon(4 << 20)).unwrap();
    touch(&mut b, a, 4 << 20);
    let frames = s.pages().len();
    // Replace 8 KiB in the middle: same pages, new zeroed bytes, new rights.
    let mid = a + M2 - K4;
    assert_eq!(
        s.mmap(&mut b, request(2 * K4, Prot::READ, Placement::Fixed(mid))),
        Ok(mid)
    );
    assert_eq!(s.pages().len(), frames, "pages reused");
    assert_eq!(b.load(mid), Some(0));
    assert_eq!(b.load(mid + K4), Some(0));
    assert_eq!(b.load(mid - K4), Some(0x5A));
    assert_eq!(s.vmas().len(), 3);
    assert_eq!(
        s.mmap(&mut b, request(K4, Prot::RW, Placement::FixedNoReplace(a))),
        Err(MmError::Exists)
    );
    // A 4 KiB request inside an existing page (past its mapping) reuses it.
    let b4 = s.mmap(&mut b, anon(K4)).unwrap();
    assert_eq!(
        s.mmap(
            &mut b,
            request(K4, Prot::RW, Placement::FixedNoReplace(b4 + K4))
        ),
        Ok(b4 + K4)
    );
    assert_eq!(s.pages().len(), frames + 1);
    assert_eq!(
        s.mmap(&mut b, request(K4, Prot::RW, Placement::Fixed(a + 1))),
        Err(MmError::Invalid)
    );
    assert_eq!(
        s.mmap(&mut b, request(K4, Prot::RW, Placement::Fixed(0x1000))),
        Err(MmError::Denied)
    );
    assert_eq!(
        s.mmap(
            &mut b,
            request(2 * K4, Prot::RW, Placement::Fixed((1 << 47) - 2 * K4))
        ),
        Err(MmError::NoMemory)
    );
    // MAP_32BIT.
    let low = s
        .mmap(&mut b, request(K4, Prot::RW, Placement::Low2G))
        .unwrap();
    assert!((1 << 30..2 << 30).contains(&low));
    // A free hint is taken as is.
    assert_eq!(
        s.mmap(
            &mut b,
            request(K4, Prot::RW, Placement::Anywhere { hint: 0x5000_0000 })
        ),
        Ok(0x5000_0000)
    );
    b.check_matches(&s);
}

#[test]
fn mremap_grows_in_place_then_moves_frames() {
    let mut b = FakeBacking::new(0, 64, 0);
    let mut s = AddressSpace::new(Layout::default());
    let a = s.mmap(&mut b, anon(200 << 10)).unwrap();
    b.store(a + 100, 7);
    // Inside the same 2 MiB page: in place, no new frame.
    assert_eq!(
        s.mremap(&mut b, a, 200 << 10, 1 << 20, Remap::InPlace),
        Ok(a)
    );
    assert_eq!(s.pages().len(), 1);
    // Block the way, then grow: without MAYMOVE it fails, with it it moves.
    let blocker = s
        .mmap(&mut b, request(K4, Prot::RW, Placement::Fixed(a + M2)))
        .unwrap();
    assert_eq!(
        s.mremap(&mut b, a, 1 << 20, 3 << 20, Remap::InPlace),
        Err(MmError::NoMemory)
    );
    let paddr = b.lookup(a).unwrap().1;
    let moved = s
        .mremap(&mut b, a, 1 << 20, 3 << 20, Remap::MayMove)
        .unwrap();
    assert_ne!(moved, a);
    assert_eq!(
        b.lookup(moved).unwrap().1,
        paddr,
        "the same frame, remapped"
    );
    assert_eq!(
        b.load(moved + 100),
        Some(7),
        "contents travel with the frame"
    );
    assert_eq!(b.load(moved + (2 << 20)), Some(0), "the grown part is zero");
    assert_eq!(b.lookup(a), None, "old range unmapped");
    assert!(s.vmas().find(a).is_none());
    // Shrink in place.
    assert_eq!(
        s.mremap(&mut b, moved, 3 << 20, K4, Remap::InPlace),
        Ok(moved)
    );
    assert_eq!(s.pages().len(), 2, "the moved page and the blocker's");
    // MREMAP_FIXED: congruent destination moves, others are refused.
    let dest = 0x3000_0000 + (moved % M2);
    assert_eq!(
        s.mremap(&mut b, moved, K4, K4, Remap::Fixed(dest + K4)),
        Err(MmError::Invalid)
    );
    assert_eq!(
        s.mremap(&mut b, moved, K4, 2 * K4, Remap::Fixed(dest)),
        Ok(dest)
    );
    assert_eq!(b.load(dest + 100), Some(7));
    // A range sharing its page with another mapping cannot move whole.
    s.mmap(
        &mut b,
        request(K4, Prot::RW, Placement::Fixed(dest + 4 * K4)),
    )
    .unwrap();
    assert_eq!(
        s.mremap(&mut b, dest, 2 * K4, M2, Remap::MayMove),
        Err(MmError::NoMemory)
    );
    // Errors as Linux.
    assert_eq!(
        s.mremap(&mut b, 0x6000_0000, K4, 2 * K4, Remap::MayMove),
        Err(MmError::Fault)
    );
    assert_eq!(
        s.mremap(&mut b, dest, 64 * K4, 2 * K4, Remap::MayMove),
        Err(MmError::Fault)
    );
    assert_eq!(
        s.mremap(&mut b, dest, K4, 0, Remap::MayMove),
        Err(MmError::Invalid)
    );
    assert_eq!(
        s.mremap(&mut b, dest + 1, K4, K4, Remap::MayMove),
        Err(MmError::Invalid)
    );
    s.munmap(&mut b, blocker, K4).unwrap();
    b.check_matches(&s);
}

#[test]
fn madvise_dontneed_zeroes_only_the_range() {
    let mut b = FakeBacking::new(0, 8, 0);
    let mut s = AddressSpace::new(Layout::default());
    let a = s.mmap(&mut b, anon(3 * K4)).unwrap();
    touch(&mut b, a, 3 * K4);
    s.madvise(&mut b, a + K4, K4, true).unwrap();
    assert_eq!(b.load(a), Some(0x5A));
    assert_eq!(b.load(a + K4), Some(0));
    assert_eq!(b.load(a + 2 * K4), Some(0x5A));
    s.madvise(&mut b, a, 3 * K4, false).unwrap();
    assert_eq!(s.madvise(&mut b, a, 4 * K4, true), Err(MmError::Unmapped));
    assert_eq!(
        b.load(a + 2 * K4),
        Some(0),
        "mapped parts handled before the hole is reported"
    );
    assert_eq!(s.madvise(&mut b, a + 1, K4, true), Err(MmError::Invalid));
    assert_eq!(s.madvise(&mut b, a, 0, true), Ok(()));
    b.check_matches(&s);
}

#[test]
fn mprotect_partial_page_is_the_union() {
    let mut b = FakeBacking::new(0, 8, 0);
    let mut s = AddressSpace::new(Layout::default());
    let a = s.mmap(&mut b, anon(4 * K4)).unwrap();
    s.mprotect(&mut b, a, K4, Prot::READ).unwrap();
    assert_eq!(s.vmas().find(a).map(|v| v.prot), Some(Prot::READ));
    assert_eq!(
        b.lookup(a).unwrap().2,
        Prot::RW,
        "the page keeps what its other bytes need"
    );
    s.mprotect(&mut b, a, 4 * K4, Prot::READ).unwrap();
    assert_eq!(b.lookup(a).unwrap().2, Prot::READ, "whole mapping: exact");
    assert_eq!(s.vmas().len(), 1, "merged again");
    s.mprotect(&mut b, a, 4 * K4, Prot::NONE).unwrap();
    assert_eq!(b.lookup(a), None, "PROT_NONE unmaps, keeps the frame");
    assert_eq!(s.pages().len(), 1);
    s.mprotect(&mut b, a, 4 * K4, Prot::RW).unwrap();
    assert!(b.lookup(a).is_some());
    assert_eq!(
        s.mprotect(&mut b, a, 5 * K4, Prot::RW),
        Err(MmError::Unmapped)
    );
    assert_eq!(
        s.mprotect(&mut b, a + 1, K4, Prot::RW),
        Err(MmError::Invalid)
    );
    assert_eq!(s.mprotect(&mut b, a, 0, Prot::RW), Ok(()));
    b.check_matches(&s);
    s.clear(&mut b);
    assert_eq!(b.in_use(), 0);
    b.check_matches(&s);
}
