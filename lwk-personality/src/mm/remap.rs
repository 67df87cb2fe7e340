//! `mremap`: grow in place when the range after the mapping is free, else
//! move the mapping by remapping its frames elsewhere — never copying.
//!
//! A frame moves whole, so the destination must sit at the same offset
//! within a page as the source (the kernel's placement guarantees it;
//! `MREMAP_FIXED` to an address that does not is refused with `EINVAL`),
//! and every page under the moved range must hold no other mapping's bytes
//! (else `ENOMEM`, which callers such as `realloc` answer by allocating and
//! copying themselves). Both are rare: libcs move whole mappings they
//! placed themselves.

use super::backing::{Backing, MapFail};
use super::pages::{down, small_aligned, up, Page};
use super::space::{AddressSpace, Remap};
use super::vma::Vma;
use super::{MmError, LARGE, SMALL};
use crate::loader::elf::{MIN_USER_ADDR, USER_END};
use alloc::vec::Vec;
use core::ops::Range;

impl AddressSpace {
    /// `mremap(2)`: resizes the mapping at `[old, old + old_len)` to
    /// `new_len` bytes and returns its address.
    pub fn mremap(
        &mut self,
        b: &mut dyn Backing,
        old: u64,
        old_len: u64,
        new_len: u64,
        how: Remap,
    ) -> Result<u64, MmError> {
        let round = |l: u64| {
            l.checked_add(SMALL - 1)
                .map(|l| down(l, SMALL))
                .filter(|&l| l <= USER_END)
        };
        let (Some(old_len), Some(new_len)) = (round(old_len), round(new_len)) else {
            return Err(MmError::Invalid);
        };
        if !small_aligned(old) || new_len == 0 {
            return Err(MmError::Invalid);
        }
        let old_end = old
            .checked_add(old_len)
            .filter(|&e| e <= USER_END)
            .ok_or(MmError::Fault)?;
        if let Remap::Fixed(dest) = how {
            let dest_end = dest.checked_add(new_len).filter(|&e| e <= USER_END);
            match dest_end {
                Some(end)
                    if small_aligned(dest)
                        && dest >= MIN_USER_ADDR
                        && (end <= old || dest >= old_end) => {}
                _ => return Err(MmError::Invalid),
            }
        }
        let vma = *self.vmas.find(old).ok_or(MmError::Fault)?;
        if old_end > vma.end {
            return Err(MmError::Fault);
        }
        // A zero old length duplicates shared mappings on Linux; a job has
        // none, and private ones are refused the same way.
        if old_len == 0 {
            return Err(MmError::Invalid);
        }
        if let Remap::Fixed(dest) = how {
            let align = self.move_alignment(old..old_end, &vma)?;
            if !dest.wrapping_sub(old).is_multiple_of(align) {
                return Err(MmError::Invalid);
            }
            if new_len < old_len {
                self.unmap_range(b, old + new_len..old_end)?;
            }
            self.unmap_range(b, dest..dest + new_len)?;
            return self.move_to(b, old..old + old_len.min(new_len), vma, dest, new_len);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.unmap_range(b, old + new_len..old_end)?;
            }
            return Ok(old);
        }
        if let Some(new_end) = old.checked_add(new_len).filter(|&e| e <= USER_END) {
            let tail = old_end..new_end;
            if old_end == vma.end && !self.vmas.any_overlap(tail.clone()) {
                match self.extend(b, vma, tail) {
                    Ok(()) => return Ok(old),
                    Err(MmError::NoMemory) if how == Remap::MayMove => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if how != Remap::MayMove {
            return Err(MmError::NoMemory);
        }
        let align = self.move_alignment(old..old_end, &vma)?.max(LARGE);
        let off = old % align;
        let block = up(off + new_len, align);
        let base = self.find_free(
            block,
            align,
            up(MIN_USER_ADDR, align),
            self.layout.mmap_base,
        )?;
        self.move_to(b, old..old_end, vma, base + off, new_len)
    }

    /// Adds `tail` (free of mappings) to the mapping `like` ends at, backed
    /// like it.
    fn extend(&mut self, b: &mut dyn Backing, like: Vma, tail: Range<u64>) -> Result<(), MmError> {
        if like.backed {
            self.pages.back(b, tail.clone(), like.prot, true)?;
        }
        self.vmas.insert(Vma {
            start: tail.start,
            end: tail.end,
            ..like
        });
        self.vmas.merge_around(tail.clone());
        self.pages.sync(b, tail, &self.vmas)
    }

    /// The multiple that a move of `range` must shift it by so that its
    /// frames can move whole (the largest page under it), or `ENOMEM` if a
    /// page under it also holds another mapping's bytes.
    fn move_alignment(&self, range: Range<u64>, vma: &Vma) -> Result<u64, MmError> {
        if !vma.backed {
            return Ok(SMALL);
        }
        let mut align = SMALL;
        for (base, page) in self.pages.overlapping(range.clone()) {
            let span = base..base + page.size();
            let shared = self.vmas.overlapping(span.clone()).any(|v| {
                v.backed
                    && (v.start.max(span.start) < range.start || v.end.min(span.end) > range.end)
            });
            if shared {
                return Err(MmError::NoMemory);
            }
            align = align.max(page.size());
        }
        Ok(align)
    }

    /// Moves the mapping `moved` (inside `vma`) to `dest`, then grows it to
    /// `new_len`. The destination is free of mappings. All or nothing.
    fn move_to(
        &mut self,
        b: &mut dyn Backing,
        moved: Range<u64>,
        vma: Vma,
        dest: u64,
        new_len: u64,
    ) -> Result<u64, MmError> {
        let delta = dest.wrapping_sub(moved.start);
        let moved_len = moved.end - moved.start;
        self.shift(b, moved.clone(), delta, vma.backed)?;
        if new_len > moved_len {
            let tail = dest + moved_len..dest + new_len;
            if let Err(e) = self.extend(b, vma, tail) {
                self.shift(b, dest..dest + moved_len, delta.wrapping_neg(), vma.backed)
                    .map_err(|_| MmError::Backing(MapFail::Refused))?;
                return Err(e);
            }
        }
        self.vmas.merge_around(dest..dest + new_len);
        self.pages.sync(b, dest..dest + new_len, &self.vmas)?;
        self.pages.sync(b, moved, &self.vmas)?;
        Ok(dest)
    }

    /// Shifts the mappings in `range` by `delta` (wrapping), with their
    /// frames if `backed`.
    fn shift(
        &mut self,
        b: &mut dyn Backing,
        range: Range<u64>,
        delta: u64,
        backed: bool,
    ) -> Result<(), MmError> {
        if backed {
            self.relocate_pages(b, range.clone(), delta)?;
        }
        for v in self.vmas.carve(range) {
            self.vmas.insert(Vma {
                start: v.start.wrapping_add(delta),
                end: v.end.wrapping_add(delta),
                ..v
            });
        }
        Ok(())
    }

    /// Moves the pages under `range` by `delta`: unmapped at the old
    /// address, mapped at the new. On failure every page goes back.
    fn relocate_pages(
        &mut self,
        b: &mut dyn Backing,
        range: Range<u64>,
        delta: u64,
    ) -> Result<(), MmError> {
        let bases: Vec<u64> = self.pages.overlapping(range).map(|(k, _)| k).collect();
        let mut pending: Vec<(u64, Page)> = bases
            .into_iter()
            .filter_map(|k| self.pages.take(b, k).map(|p| (k, p)))
            .collect();
        // After MREMAP_FIXED's unmap a neighbour may still keep a page there.
        let clash = pending.iter().any(|(k, p)| {
            self.pages
                .any_overlap(k.wrapping_add(delta)..k.wrapping_add(delta) + p.size())
        });
        if clash {
            self.restore(b, pending)?;
            return Err(MmError::NoMemory);
        }
        let mut placed: Vec<u64> = Vec::new();
        while let Some((k, page)) = pending.pop() {
            if let Err((fail, page)) = self.pages.put(b, k.wrapping_add(delta), page) {
                pending.push((k, page));
                for k in placed {
                    if let Some(p) = self.pages.take(b, k.wrapping_add(delta)) {
                        pending.push((k, p));
                    }
                }
                self.restore(b, pending)?;
                return Err(match fail {
                    MapFail::NoMemory => MmError::NoMemory,
                    MapFail::Refused => MmError::Backing(fail),
                });
            }
            placed.push(k);
        }
        Ok(())
    }

    /// Puts taken pages back where they were. Their paging structures are
    /// still there, so this cannot run out of memory; if the backing refuses
    /// anyway the frame goes back to the pool and the job ends.
    fn restore(&mut self, b: &mut dyn Backing, pages: Vec<(u64, Page)>) -> Result<(), MmError> {
        let mut result = Ok(());
        for (k, page) in pages {
            if let Err((fail, page)) = self.pages.put(b, k, page) {
                b.free_frame(page.frame);
                result = Err(MmError::Backing(fail));
            }
        }
        result
    }
}
