//! One process's address space: its VMAs, the pages that back them, the
//! program break, and the operations the memory system calls need.

use super::backing::{Backing, Prot};
use super::pages::{down, small_aligned, up, PageMap};
use super::vma::{Vma, VmaKind, VmaSet};
use super::{in_user_space, MmError, LARGE, SMALL};
use crate::loader::elf::{LoadPlan, Perms, MIN_USER_ADDR, USER_END};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

const HUGE: u64 = super::PageSize::Huge1G.bytes();

/// Where things go in the address space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `mmap` without an address places mappings top-down below this.
    pub mmap_base: u64,
    /// Top of the main stack (exclusive).
    pub stack_top: u64,
    /// Size of the main stack; rounded up to 2 MiB.
    pub stack_size: u64,
}

impl Default for Layout {
    /// Linux's shape: stack near the top of the lower half, mappings below
    /// it, leaving 960 GiB between them; the stack is 8 MiB, the default
    /// `RLIMIT_STACK`, mapped whole since nothing grows on demand.
    fn default() -> Self {
        Self {
            mmap_base: 0x7f00_0000_0000,
            stack_top: 0x7ff0_0000_0000,
            stack_size: 8 << 20,
        }
    }
}

/// Where a new mapping may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Wherever there is room; at `hint` if it is nonzero and free.
    Anywhere {
        /// The application's suggestion (0: none).
        hint: u64,
    },
    /// Below 2 GiB (`MAP_32BIT`: Linux uses 1–2 GiB).
    Low2G,
    /// Exactly here, replacing what is there (`MAP_FIXED`).
    Fixed(u64),
    /// Exactly here, failing if anything is there (`MAP_FIXED_NOREPLACE`).
    FixedNoReplace(u64),
}

/// A new anonymous mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// Bytes asked for (rounded up to 4 KiB; nonzero).
    pub len: u64,
    /// Rights.
    pub prot: Prot,
    /// What it is for.
    pub kind: VmaKind,
    /// Where it goes.
    pub placement: Placement,
}

/// How `mremap` may satisfy a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remap {
    /// Only where it is (no flags).
    InPlace,
    /// Anywhere (`MREMAP_MAYMOVE`).
    MayMove,
    /// At this address (`MREMAP_MAYMOVE | MREMAP_FIXED`).
    Fixed(u64),
}

/// The address space of one process.
#[derive(Debug)]
pub struct AddressSpace {
    pub(super) vmas: VmaSet,
    pub(super) pages: PageMap,
    pub(super) layout: Layout,
    brk_start: u64,
    brk: u64,
}

impl AddressSpace {
    /// An empty address space; `brk` stays 0 until an image is loaded.
    pub fn new(layout: Layout) -> Self {
        Self {
            vmas: VmaSet::default(),
            pages: PageMap::default(),
            layout,
            brk_start: 0,
            brk: 0,
        }
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The mappings.
    pub fn vmas(&self) -> &VmaSet {
        &self.vmas
    }

    /// The pages backing them.
    pub fn pages(&self) -> &PageMap {
        &self.pages
    }

    /// The program break, exactly as last set.
    pub fn brk(&self) -> u64 {
        self.brk
    }

    /// Where the heap starts: the first 2 MiB boundary after the image, so
    /// that its large pages never meet the image's small ones.
    pub fn brk_start(&self) -> u64 {
        self.brk_start
    }

    /// Backs and maps the image of `plan`: every page of every segment,
    /// zeroed (the caller then copies the file bytes in with
    /// [`super::Access::Loader`]), with each page's rights the union of the
    /// segments on it. 2 MiB pages where a whole aligned 2 MiB has one set
    /// of rights, 4 KiB pages elsewhere. Sets the break after the image.
    pub fn load_image(&mut self, b: &mut dyn Backing, plan: &LoadPlan) -> Result<(), MmError> {
        let runs = image_runs(plan);
        let image = plan.image_range();
        if self.vmas.any_overlap(image.clone()) || self.pages.any_overlap(image.clone()) {
            return Err(MmError::Exists);
        }
        for (range, prot) in runs {
            if let Err(e) = self.pages.back(b, range.clone(), prot, false) {
                self.unmap_range(b, image)?;
                return Err(e);
            }
            self.vmas.insert(Vma {
                start: range.start,
                end: range.end,
                prot,
                kind: VmaKind::Image,
                backed: true,
            });
        }
        self.vmas.merge_around(image.clone());
        self.pages.sync(b, image.clone(), &self.vmas)?;
        self.brk_start = up(image.end, LARGE);
        self.brk = self.brk_start;
        Ok(())
    }

    /// Backs and maps the main stack per the layout, executable if the
    /// image asked for it; returns its range.
    pub fn map_stack(&mut self, b: &mut dyn Backing, exec: bool) -> Result<Range<u64>, MmError> {
        let top = down(self.layout.stack_top, LARGE);
        let size = up(self.layout.stack_size.max(1), LARGE);
        let start = top.checked_sub(size).ok_or(MmError::Invalid)?;
        if !in_user_space(start, top) {
            return Err(MmError::Invalid);
        }
        if self.vmas.any_overlap(start..top) {
            return Err(MmError::Exists);
        }
        let prot = if exec { Prot::RWX } else { Prot::RW };
        self.add(b, start..top, prot, VmaKind::Stack)?;
        Ok(start..top)
    }

    /// Backs `range` (free of VMAs) and records it as one backed mapping.
    fn add(
        &mut self,
        b: &mut dyn Backing,
        range: Range<u64>,
        prot: Prot,
        kind: VmaKind,
    ) -> Result<(), MmError> {
        self.pages.back(b, range.clone(), prot, true)?;
        self.vmas.insert(Vma {
            start: range.start,
            end: range.end,
            prot,
            kind,
            backed: true,
        });
        self.vmas.merge_around(range.clone());
        self.pages.sync(b, range, &self.vmas)
    }

    /// `brk(2)`: moves the break to `new` and returns the break in effect,
    /// which is the old one if the move is impossible (below the start,
    /// into another mapping, out of memory), as Linux answers.
    pub fn set_brk(&mut self, b: &mut dyn Backing, new: u64) -> Result<u64, MmError> {
        if self.brk_start == 0 || new < self.brk_start || new > USER_END {
            return Ok(self.brk);
        }
        let (old_end, new_end) = (up(self.brk, SMALL), up(new, SMALL));
        if new_end > old_end {
            let grow = old_end..new_end;
            if self.vmas.any_overlap(grow.clone()) {
                return Ok(self.brk);
            }
            match self.add(b, grow, Prot::RW, VmaKind::Brk) {
                Ok(()) => {}
                Err(MmError::NoMemory) => return Ok(self.brk),
                Err(e) => return Err(e),
            }
        } else if new_end < old_end {
            self.unmap_range(b, new_end..old_end)?;
        }
        self.brk = new;
        Ok(new)
    }

    /// `mmap(2)` of anonymous memory: returns the address.
    pub fn mmap(&mut self, b: &mut dyn Backing, req: MapRequest) -> Result<u64, MmError> {
        if req.len == 0 {
            return Err(MmError::Invalid);
        }
        let len = req
            .len
            .checked_add(SMALL - 1)
            .map(|l| down(l, SMALL))
            .filter(|&l| l <= USER_END)
            .ok_or(MmError::NoMemory)?;
        let start = match req.placement {
            Placement::Fixed(at) | Placement::FixedNoReplace(at) => {
                if !small_aligned(at) {
                    return Err(MmError::Invalid);
                }
                if at < MIN_USER_ADDR {
                    return Err(MmError::Denied);
                }
                if at.checked_add(len).is_none_or(|end| end > USER_END) {
                    return Err(MmError::NoMemory);
                }
                let noreplace = matches!(req.placement, Placement::FixedNoReplace(_));
                if noreplace && self.vmas.any_overlap(at..at + len) {
                    return Err(MmError::Exists);
                }
                at
            }
            Placement::Anywhere { hint } => self.choose(hint, len)?,
            Placement::Low2G => self.find_free(up(len, LARGE), LARGE, 1 << 30, 2 << 30)?,
        };
        let range = start..start + len;
        // MAP_FIXED replaces; elsewhere the range is already free.
        self.vmas.carve(range.clone());
        let backed = !req.prot.is_none();
        if backed {
            if let Err(e) = self.pages.back(b, range.clone(), req.prot, true) {
                // What the replaced mappings held is theirs no longer.
                self.pages.sync(b, range, &self.vmas)?;
                return Err(e);
            }
        }
        self.vmas.insert(Vma {
            start,
            end: range.end,
            prot: req.prot,
            kind: req.kind,
            backed,
        });
        self.vmas.merge_around(range.clone());
        self.pages.sync(b, range, &self.vmas)?;
        Ok(start)
    }

    /// The address for a non-fixed mapping of `len` bytes: the hint if it
    /// is free, else the highest free 2 MiB-aligned block below the mmap
    /// base (1 GiB-aligned for a gigabyte or more, so it gets huge pages).
    fn choose(&self, hint: u64, len: u64) -> Result<u64, MmError> {
        let at = up(hint, SMALL);
        if hint != 0
            && at
                .checked_add(len)
                .is_some_and(|end| in_user_space(at, end))
            && !self.vmas.any_overlap(at..at + len)
        {
            return Ok(at);
        }
        let align = if len >= HUGE { HUGE } else { LARGE };
        self.find_free(
            up(len, LARGE),
            align,
            up(MIN_USER_ADDR, LARGE),
            self.layout.mmap_base,
        )
    }

    /// The highest `align`-aligned start of a block of `block` bytes in
    /// `[lo, hi)` that shares no byte with a mapping and no page with
    /// anything: mappings the kernel places never share a page, so each is
    /// freed whole.
    pub(super) fn find_free(
        &self,
        block: u64,
        align: u64,
        lo: u64,
        hi: u64,
    ) -> Result<u64, MmError> {
        let mut end = hi;
        loop {
            let start = down(end.checked_sub(block).ok_or(MmError::NoMemory)?, align);
            if start < lo {
                return Err(MmError::NoMemory);
            }
            let candidate = start..start + block;
            let vma = self
                .vmas
                .overlapping(candidate.clone())
                .next()
                .map(|v| v.start);
            let page = self.pages.overlapping(candidate).next().map(|(k, _)| k);
            match (vma, page) {
                (None, None) => return Ok(start),
                (a, b) => end = down(a.unwrap_or(u64::MAX).min(b.unwrap_or(u64::MAX)), LARGE),
            }
        }
    }

    /// `munmap(2)`.
    pub fn munmap(&mut self, b: &mut dyn Backing, addr: u64, len: u64) -> Result<(), MmError> {
        if !small_aligned(addr) || len == 0 {
            return Err(MmError::Invalid);
        }
        let end = addr
            .checked_add(up(len, SMALL))
            .filter(|&end| end <= USER_END && len <= USER_END)
            .ok_or(MmError::Invalid)?;
        self.unmap_range(b, addr..end)
    }

    /// Removes every mapping in `range` and frees the pages left unused.
    pub(super) fn unmap_range(
        &mut self,
        b: &mut dyn Backing,
        range: Range<u64>,
    ) -> Result<(), MmError> {
        self.vmas.carve(range.clone());
        self.pages.sync(b, range, &self.vmas)
    }

    /// `mprotect(2)`. A reservation made accessible is backed now; rights are
    /// applied per page as the union of the mappings on it.
    pub fn mprotect(
        &mut self,
        b: &mut dyn Backing,
        addr: u64,
        len: u64,
        prot: Prot,
    ) -> Result<(), MmError> {
        let Some(range) = advice_range(addr, len, MmError::NoMemory)? else {
            return Ok(());
        };
        if !self.vmas.covers(range.clone()) {
            return Err(MmError::Unmapped);
        }
        if !prot.is_none() {
            let holes: Vec<Range<u64>> = self
                .vmas
                .overlapping(range.clone())
                .filter(|v| !v.backed)
                .map(|v| v.start.max(range.start)..v.end.min(range.end))
                .collect();
            for hole in holes {
                if let Err(e) = self.pages.back(b, hole, prot, true) {
                    // Free the pages backed for earlier holes: still reservations.
                    self.pages.sync(b, range, &self.vmas)?;
                    return Err(e);
                }
            }
        }
        self.vmas.split_at(range.start);
        self.vmas.split_at(range.end);
        for v in self.vmas.inside_mut(range.clone()) {
            v.prot = prot;
            v.backed |= !prot.is_none();
        }
        self.vmas.merge_around(range.clone());
        self.pages.sync(b, range, &self.vmas)
    }

    /// `madvise(2)` over `[addr, addr + len)`: with `discard`
    /// (`MADV_DONTNEED`) the mapped bytes are zeroed — what Linux's dropping
    /// of anonymous pages looks like to the application — else nothing
    /// happens. Either way a hole in the range is reported after the mapped
    /// parts were handled, as Linux does.
    pub fn madvise(
        &mut self,
        b: &mut dyn Backing,
        addr: u64,
        len: u64,
        discard: bool,
    ) -> Result<(), MmError> {
        let Some(range) = advice_range(addr, len, MmError::Invalid)? else {
            return Ok(());
        };
        if discard {
            for v in self.vmas.overlapping(range.clone()).filter(|v| v.backed) {
                let part = v.start.max(range.start)..v.end.min(range.end);
                self.pages.zero_bytes(b, part);
            }
        }
        if self.vmas.covers(range) {
            Ok(())
        } else {
            Err(MmError::Unmapped)
        }
    }

    /// Unmaps and frees everything: the job is over.
    pub fn clear(&mut self, b: &mut dyn Backing) {
        let all = 0..u64::MAX;
        self.vmas.carve(all.clone());
        // Without mappings every page is unused, so sync only frees: it
        // cannot fail.
        let _ = self.pages.sync(b, all, &self.vmas);
        self.brk_start = 0;
        self.brk = 0;
    }

    /// Checks every invariant of the address space; for tests and debug
    /// builds of the personality. The description names the first broken
    /// one.
    pub fn check(&self) -> Result<(), String> {
        let mut prev_end = 0;
        for v in self.vmas.iter() {
            if !(in_user_space(v.start, v.end) && small_aligned(v.start) && small_aligned(v.end)) {
                return Err(format!("bad VMA {v:x?}"));
            }
            if v.start < prev_end {
                return Err(format!("VMA {v:x?} overlaps its predecessor"));
            }
            if !v.backed && !v.prot.is_none() {
                return Err(format!("accessible reservation {v:x?}"));
            }
            if v.backed && !self.populated(v.start, v.end - v.start) {
                return Err(format!("VMA {v:x?} not backed throughout"));
            }
            prev_end = v.end;
        }
        let mut prev_end = 0;
        for (base, page) in self.pages.iter() {
            let end = base + page.size();
            if !base.is_multiple_of(page.size())
                || !page.frame.paddr.is_multiple_of(page.size())
                || base < prev_end
            {
                return Err(format!("page at {base:#x} misaligned or overlapping"));
            }
            let users: Vec<&Vma> = self
                .vmas
                .overlapping(base..end)
                .filter(|v| v.backed)
                .collect();
            if users.is_empty() {
                return Err(format!("page at {base:#x} used by no mapping"));
            }
            let union = users.iter().fold(Prot::NONE, |acc, v| acc.union(v.prot));
            if union != page.prot {
                return Err(format!(
                    "page at {base:#x} mapped {:?}, mappings need {union:?}",
                    page.prot
                ));
            }
            prev_end = end;
        }
        if self.brk < self.brk_start {
            return Err(format!(
                "brk {:#x} below its start {:#x}",
                self.brk, self.brk_start
            ));
        }
        Ok(())
    }
}

/// The range of an `mprotect`/`madvise` call, or `None` when it is empty
/// (which succeeds): start 4 KiB aligned (`EINVAL`), length rounded up,
/// `overflow` if the end wraps (each call has its own answer).
fn advice_range(addr: u64, len: u64, overflow: MmError) -> Result<Option<Range<u64>>, MmError> {
    if !small_aligned(addr) {
        return Err(MmError::Invalid);
    }
    if len == 0 {
        return Ok(None);
    }
    let end = len
        .checked_add(SMALL - 1)
        .and_then(|l| addr.checked_add(down(l, SMALL)))
        .ok_or(overflow)?;
    Ok(Some(addr..end))
}

/// The image as runs of pages with uniform rights: each segment's pages,
/// where a page two segments share gets the union of their rights.
fn image_runs(plan: &LoadPlan) -> Vec<(Range<u64>, Prot)> {
    let mut runs: Vec<(Range<u64>, Prot)> = Vec::new();
    for s in &plan.segments {
        let pages = s.page_range();
        let prot = prot_of(s.perms);
        let mut start = pages.start;
        if let Some(last) = runs.last_mut() {
            // Segments never overlap, so at most their boundary page is shared.
            if last.0.end > start {
                let shared = start..last.0.end;
                let union = last.1.union(prot);
                last.0.end = start;
                if last.0.is_empty() {
                    runs.pop();
                }
                start = shared.end;
                runs.push((shared, union));
            }
        }
        if start < pages.end {
            runs.push((start..pages.end, prot));
        }
    }
    runs
}

fn prot_of(p: Perms) -> Prot {
    let mut prot = Prot::NONE;
    for (on, bit) in [
        (p.read, Prot::READ),
        (p.write, Prot::WRITE),
        (p.exec, Prot::EXEC),
    ] {
        if on {
            prot = prot.union(bit);
        }
    }
    prot
}
