//! The VMA set: what the application asked for, at Linux's 4 KiB
//! granularity, whatever the page size that backs it.

use super::backing::Prot;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::Range;

/// What a mapping is for (diagnostics, and which rules apply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VmaKind {
    /// Part of the ELF image.
    Image,
    /// The program break's heap.
    Brk,
    /// Anonymous `mmap`.
    Anon,
    /// The main thread's stack.
    Stack,
    /// An anonymous `mmap` with `MAP_STACK` (how libcs allocate thread
    /// stacks).
    ThreadStack,
}

/// One mapping: a range with uniform rights and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    /// First byte (4 KiB aligned).
    pub start: u64,
    /// One past the last byte (4 KiB aligned, `> start`).
    pub end: u64,
    /// Rights the application asked for. The page that holds the range is
    /// mapped with the union of the rights of every mapping on it.
    pub prot: Prot,
    /// What it is.
    pub kind: VmaKind,
    /// Whether frames back it. Only a mapping created `PROT_NONE` and never
    /// made accessible is unbacked (a *reservation*: libcs reserve address
    /// space that way for thread stacks' guards and malloc arenas, and
    /// backing it would waste the pool on memory nobody can touch).
    pub backed: bool,
}

impl Vma {
    /// The byte range.
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    /// Whether `other` could extend `self` into one mapping.
    fn same_attributes(&self, other: &Vma) -> bool {
        self.prot == other.prot && self.kind == other.kind && self.backed == other.backed
    }
}

/// The VMAs of one process: sorted, disjoint, non-empty, keyed by start.
#[derive(Clone, Debug, Default)]
pub struct VmaSet {
    map: BTreeMap<u64, Vma>,
}

impl VmaSet {
    /// Every VMA, by address.
    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
    }

    /// Number of VMAs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The VMA holding `addr`.
    pub fn find(&self, addr: u64) -> Option<&Vma> {
        self.map
            .range(..=addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| addr < v.end)
    }

    /// VMAs that share a byte with `range`, by address.
    pub fn overlapping(&self, range: Range<u64>) -> impl Iterator<Item = &Vma> {
        let from = self.find(range.start).map_or(range.start, |v| v.start);
        // An empty range overlaps nothing, even inside a VMA.
        let to = if range.start < range.end {
            range.end
        } else {
            from
        };
        self.map.range(from..to).map(|(_, v)| v)
    }

    /// Whether any VMA shares a byte with `range`.
    pub fn any_overlap(&self, range: Range<u64>) -> bool {
        self.overlapping(range).next().is_some()
    }

    /// Whether every byte of `range` is in some VMA.
    pub fn covers(&self, range: Range<u64>) -> bool {
        let mut at = range.start;
        for v in self.overlapping(range.clone()) {
            if v.start > at {
                return false;
            }
            at = v.end;
        }
        at >= range.end
    }

    /// Adds `vma`; the caller has made room for it.
    pub(super) fn insert(&mut self, vma: Vma) {
        debug_assert!(vma.start < vma.end && !self.any_overlap(vma.range()));
        self.map.insert(vma.start, vma);
    }

    /// Makes `addr` a VMA boundary if it falls inside one.
    pub(super) fn split_at(&mut self, addr: u64) {
        if let Some(v) = self.find(addr).copied() {
            if v.start < addr {
                self.map.insert(v.start, Vma { end: addr, ..v });
                self.map.insert(addr, Vma { start: addr, ..v });
            }
        }
    }

    /// Removes every byte of `range` from the set and returns the pieces
    /// removed, by address.
    pub(super) fn carve(&mut self, range: Range<u64>) -> Vec<Vma> {
        self.split_at(range.start);
        self.split_at(range.end);
        let keys: Vec<u64> = self.overlapping(range).map(|v| v.start).collect();
        keys.iter().filter_map(|k| self.map.remove(k)).collect()
    }

    /// The VMAs starting in `range`, mutable (after [`Self::split_at`] at
    /// both ends these are exactly the VMAs inside it).
    pub(super) fn inside_mut(&mut self, range: Range<u64>) -> impl Iterator<Item = &mut Vma> {
        self.map
            .range_mut(range.start..range.end.max(range.start))
            .map(|(_, v)| v)
    }

    /// Joins VMAs around and inside `range` that touch and have the same
    /// attributes, so that repeated `brk` or `mprotect` calls do not grow the
    /// set.
    pub(super) fn merge_around(&mut self, range: Range<u64>) {
        let lo = self
            .map
            .range(..range.start)
            .next_back()
            .map_or(range.start, |(&k, _)| k);
        let hi = range.end.saturating_add(1);
        let keys: Vec<u64> = self.map.range(lo..hi).map(|(&k, _)| k).collect();
        let mut current: Option<u64> = None;
        for k in keys {
            let Some(&v) = self.map.get(&k) else { continue };
            match current.and_then(|c| self.map.get(&c).copied()) {
                Some(prev) if prev.end == v.start && prev.same_attributes(&v) => {
                    self.map.remove(&k);
                    if let Some(p) = self.map.get_mut(&prev.start) {
                        p.end = v.end;
                    }
                }
                _ => current = Some(k),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vma(start: u64, end: u64, prot: Prot) -> Vma {
        Vma {
            start,
            end,
            prot,
            kind: VmaKind::Anon,
            backed: true,
        }
    }

    #[test]
    fn carve_splits_and_merge_joins() {
        let mut s = VmaSet::default();
        s.insert(vma(0x1000, 0x5000, Prot::RW));
        s.insert(vma(0x8000, 0x9000, Prot::RW));
        let cut = s.carve(0x2000..0x3000);
        assert_eq!(cut, [vma(0x2000, 0x3000, Prot::RW)]);
        assert_eq!(s.len(), 3);
        assert!(!s.covers(0x1000..0x5000));
        assert!(s.covers(0x3000..0x5000));
        assert_eq!(s.find(0x2fff), None);
        assert_eq!(s.find(0x3000).map(|v| v.end), Some(0x5000));

        s.insert(vma(0x2000, 0x3000, Prot::RW));
        s.merge_around(0x2000..0x3000);
        assert_eq!(
            s.iter().copied().collect::<Vec<_>>(),
            [vma(0x1000, 0x5000, Prot::RW), vma(0x8000, 0x9000, Prot::RW)]
        );

        s.split_at(0x4000);
        for v in s.inside_mut(0x4000..0x5000) {
            v.prot = Prot::READ;
        }
        s.merge_around(0x1000..0x9000);
        assert_eq!(s.len(), 3, "different rights stay apart");
        assert_eq!(s.overlapping(0x3fff..0x8001).count(), 3);
        assert_eq!(s.overlapping(0x5000..0x8000).count(), 0);
    }
}
