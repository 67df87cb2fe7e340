//! Which frame backs which page, and keeping the VSpace in step with the
//! VMAs.
//!
//! A page's life: [`PageMap::back`] allocates, zeroes and maps it when a
//! mapping first needs bytes in it; [`PageMap::sync`] keeps its rights equal
//! to the union of the rights of the mappings on it, and unmaps and frees it
//! when no backed mapping is left on it. Usage is derived from the VMA set
//! each time rather than counted, so it cannot drift from it.

use super::backing::{Backing, Frame, MapFail, PageSize, Prot};
use super::vma::VmaSet;
use super::{MmError, LARGE, SMALL};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::Range;

const HUGE: u64 = PageSize::Huge1G.bytes();

/// A page of the application: a frame at a virtual address.
#[derive(Debug)]
pub struct Page {
    /// The frame.
    pub frame: Frame,
    /// Rights it is mapped with; [`Prot::NONE`] means allocated but not
    /// mapped (only `PROT_NONE` mappings are on it).
    pub prot: Prot,
}

impl Page {
    /// Bytes in the page.
    pub fn size(&self) -> u64 {
        self.frame.size.bytes()
    }
}

/// The pages of one process, keyed by virtual address; disjoint, each
/// aligned to its size.
#[derive(Debug, Default)]
pub struct PageMap {
    map: BTreeMap<u64, Page>,
}

impl PageMap {
    /// Every page, by address.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Page)> {
        self.map.iter().map(|(&k, p)| (k, p))
    }

    /// Number of pages (= frames held).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes of pool held.
    pub fn bytes(&self) -> u64 {
        self.map.values().map(Page::size).sum()
    }

    /// The page holding `addr`, with its address.
    pub fn at(&self, addr: u64) -> Option<(u64, &Page)> {
        self.map
            .range(..=addr)
            .next_back()
            .filter(|(&k, p)| addr < k + p.size())
            .map(|(&k, p)| (k, p))
    }

    /// Pages sharing a byte with `range`, by address.
    pub fn overlapping(&self, range: Range<u64>) -> impl Iterator<Item = (u64, &Page)> {
        let from = self.at(range.start).map_or(range.start, |(k, _)| k);
        let to = if range.start < range.end {
            range.end
        } else {
            from
        };
        self.map.range(from..to).map(|(&k, p)| (k, p))
    }

    /// Whether any page shares a byte with `range`.
    pub fn any_overlap(&self, range: Range<u64>) -> bool {
        self.overlapping(range).next().is_some()
    }

    /// The pages to add so that every byte of `range` is backed. With
    /// `round_out` (anonymous memory) the range is widened to 2 MiB and
    /// backed with large pages; 4 KiB pages appear only in a 2 MiB slot an
    /// ELF segment already split. Without it (the image) the range is backed
    /// exactly, with the largest pages that fit.
    fn plan(&self, range: Range<u64>, round_out: bool) -> Vec<(u64, PageSize)> {
        let (lo, hi) = if round_out {
            (down(range.start, LARGE), up(range.end, LARGE))
        } else {
            (range.start, range.end)
        };
        let mut plan = Vec::new();
        let mut at = lo;
        while at < hi {
            if let Some((base, page)) = self.at(at) {
                at = base + page.size();
                continue;
            }
            let size = [PageSize::Huge1G, PageSize::Large2M]
                .into_iter()
                .find(|s| {
                    let n = s.bytes();
                    at.is_multiple_of(n) && at + n <= hi && !self.any_overlap(at..at + n)
                })
                .unwrap_or(PageSize::Small4K);
            if size != PageSize::Small4K || range.contains(&at) {
                plan.push((at, size));
            }
            at += size.bytes();
        }
        plan
    }

    /// Backs every byte of `range` (4 KiB aligned): allocates, zeroes and
    /// maps the missing pages with `prot`, and zeroes the bytes of `range`
    /// in pages that already exist (an earlier mapping may have left data
    /// there; a new mapping reads zeros). All or nothing: on failure every
    /// frame taken is returned.
    pub(super) fn back(
        &mut self,
        b: &mut dyn Backing,
        range: Range<u64>,
        prot: Prot,
        round_out: bool,
    ) -> Result<(), MmError> {
        let fresh = allocate(b, self.plan(range.clone(), round_out))?;
        let mut mapped = 0;
        let mut failure = None;
        for (vaddr, frame) in &fresh {
            b.zero(frame, 0, frame.size.bytes());
            if !prot.is_none() {
                if let Err(e) = b.map(frame, *vaddr, prot) {
                    failure = Some(e);
                    break;
                }
            }
            mapped += 1;
        }
        if let Some(e) = failure {
            for (i, (vaddr, frame)) in fresh.into_iter().enumerate() {
                if i < mapped && !prot.is_none() {
                    b.unmap(&frame, vaddr);
                }
                b.free_frame(frame);
            }
            return Err(match e {
                MapFail::NoMemory => MmError::NoMemory,
                MapFail::Refused => MmError::Backing(e),
            });
        }
        self.zero_bytes(b, range);
        for (vaddr, frame) in fresh {
            self.map.insert(vaddr, Page { frame, prot });
        }
        Ok(())
    }

    /// Zeroes the bytes of `range` in the pages that hold them.
    pub(super) fn zero_bytes(&self, b: &mut dyn Backing, range: Range<u64>) {
        for (base, page) in self.overlapping(range.clone()) {
            let start = range.start.max(base);
            let end = range.end.min(base + page.size());
            b.zero(&page.frame, start - base, end - start);
        }
    }

    /// Brings the pages overlapping `range` in line with `vmas`: rights =
    /// union of the backed mappings on the page; no backed mapping left →
    /// unmapped and freed. A refusal here concerns a page that is already
    /// mapped, so the VSpace and the bookkeeping may now disagree: it is
    /// reported as [`MmError::Backing`], which ends the job.
    pub(super) fn sync(
        &mut self,
        b: &mut dyn Backing,
        range: Range<u64>,
        vmas: &VmaSet,
    ) -> Result<(), MmError> {
        let keys: Vec<u64> = self.overlapping(range).map(|(k, _)| k).collect();
        for base in keys {
            let Some(page) = self.map.get_mut(&base) else {
                continue;
            };
            let span = base..base + page.size();
            let mut users = vmas.overlapping(span).filter(|v| v.backed).peekable();
            if users.peek().is_none() {
                if let Some(page) = self.map.remove(&base) {
                    release(b, base, page);
                }
                continue;
            }
            let want = users.fold(Prot::NONE, |acc, v| acc.union(v.prot));
            if want != page.prot {
                apply(b, &page.frame, base, page.prot, want).map_err(MmError::Backing)?;
                page.prot = want;
            }
        }
        Ok(())
    }

    /// Removes the page at `base` (for moving it), unmapping it.
    pub(super) fn take(&mut self, b: &mut dyn Backing, base: u64) -> Option<Page> {
        let page = self.map.remove(&base)?;
        if !page.prot.is_none() {
            b.unmap(&page.frame, base);
        }
        Some(page)
    }

    /// Installs `page` at `base` (after [`Self::take`]), mapping it; on
    /// failure the page is handed back.
    pub(super) fn put(
        &mut self,
        b: &mut dyn Backing,
        base: u64,
        page: Page,
    ) -> Result<(), (MapFail, Page)> {
        if !page.prot.is_none() {
            if let Err(e) = b.map(&page.frame, base, page.prot) {
                return Err((e, page));
            }
        }
        self.map.insert(base, page);
        Ok(())
    }
}

/// Allocates the frames of `plan`, falling back from 1 GiB to 2 MiB frames
/// when the pool has no gigabyte left. All or nothing.
fn allocate(b: &mut dyn Backing, plan: Vec<(u64, PageSize)>) -> Result<Vec<(u64, Frame)>, MmError> {
    let mut got = Vec::with_capacity(plan.len());
    for (vaddr, size) in plan {
        if let Some(frame) = b.alloc_frame(size) {
            got.push((vaddr, frame));
            continue;
        }
        if size == PageSize::Huge1G {
            let before = got.len();
            for i in 0..HUGE / LARGE {
                match b.alloc_frame(PageSize::Large2M) {
                    Some(frame) => got.push((vaddr + i * LARGE, frame)),
                    None => break,
                }
            }
            if got.len() - before == (HUGE / LARGE) as usize {
                continue;
            }
        }
        for (_, frame) in got {
            b.free_frame(frame);
        }
        return Err(MmError::NoMemory);
    }
    Ok(got)
}

/// Unmaps (if mapped) and frees a page.
fn release(b: &mut dyn Backing, base: u64, page: Page) {
    if !page.prot.is_none() {
        b.unmap(&page.frame, base);
    }
    b.free_frame(page.frame);
}

/// Moves a mapped page from rights `from` to `to`; "no rights" means not
/// mapped (x86 cannot express a present page without access).
fn apply(
    b: &mut dyn Backing,
    frame: &Frame,
    vaddr: u64,
    from: Prot,
    to: Prot,
) -> Result<(), MapFail> {
    match (from.is_none(), to.is_none()) {
        (true, true) => Ok(()),
        (true, false) => b.map(frame, vaddr, to),
        (false, true) => {
            b.unmap(frame, vaddr);
            Ok(())
        }
        (false, false) => b.protect(frame, vaddr, to),
    }
}

/// Rounds down to a multiple of `to` (a power of two).
pub(super) const fn down(addr: u64, to: u64) -> u64 {
    addr & !(to - 1)
}

/// Rounds up to a multiple of `to` (a power of two); saturates at the top
/// of the address space, which callers have already refused.
pub(super) const fn up(addr: u64, to: u64) -> u64 {
    down(addr.saturating_add(to - 1), to)
}

/// Whether `addr` is 4 KiB aligned.
pub(super) const fn small_aligned(addr: u64) -> bool {
    addr.is_multiple_of(SMALL)
}
