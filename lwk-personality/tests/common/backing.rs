//! A fake [`Backing`]: a pool of frames in vectors, a page table in a map,
//! and physical memory as the bytes written so far. It panics on every
//! contract violation (misaligned or double mapping, double free, mapping a
//! free frame, `Prot::NONE` mappings) and counts the faults an access would
//! take, so tests can require zero.

use lwk_personality::mm::{AddressSpace, Backing, Frame, MapFail, PageSize, Prot};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Physical base of each pool, far enough apart never to meet.
fn pool_base(size: PageSize) -> u64 {
    match size {
        PageSize::Small4K => 0x1_0000_0000,
        PageSize::Large2M => 0x10_0000_0000,
        PageSize::Huge1G => 0x100_0000_0000,
    }
}

#[derive(Default)]
pub struct FakeBacking {
    /// Free frames per size (a stack: freed frames are reused first, so
    /// stale contents show if the manager forgets to zero).
    free: HashMap<PageSize, Vec<u64>>,
    total: HashMap<PageSize, usize>,
    allocated: HashMap<u64, PageSize>,
    /// vaddr → (paddr, size, prot).
    mapped: BTreeMap<u64, (u64, PageSize, Prot)>,
    mapped_frames: HashSet<u64>,
    /// Physical bytes ever written and not zeroed since; absent reads 0.
    mem: BTreeMap<u64, u8>,
    /// Accesses that found no mapping or too few rights.
    pub faults: u64,
    /// Calls of `map` that fail with `NoMemory` once this reaches 0.
    pub fail_maps_after: Option<usize>,
    /// Bytes zeroed.
    pub zeroed: u64,
}

impl FakeBacking {
    /// A pool of `small`, `large` and `huge` frames.
    pub fn new(small: usize, large: usize, huge: usize) -> Self {
        let mut b = Self::default();
        for (size, n) in [
            (PageSize::Small4K, small),
            (PageSize::Large2M, large),
            (PageSize::Huge1G, huge),
        ] {
            let frames = (0..n as u64)
                .rev()
                .map(|i| pool_base(size) + i * size.bytes())
                .collect();
            b.free.insert(size, frames);
            b.total.insert(size, n);
        }
        b
    }

    pub fn free_count(&self, size: PageSize) -> usize {
        self.free.get(&size).map_or(0, Vec::len)
    }

    pub fn in_use(&self) -> usize {
        self.allocated.len()
    }

    /// Every frame is either free or allocated, never both or neither.
    pub fn conserved(&self) -> bool {
        PageSize::ALL.iter().all(|&s| {
            let used = self.allocated.values().filter(|&&v| v == s).count();
            used + self.free_count(s) == self.total.get(&s).copied().unwrap_or(0)
        })
    }

    /// The mapping holding `vaddr`: (page base, paddr, prot).
    pub fn lookup(&self, vaddr: u64) -> Option<(u64, u64, Prot)> {
        let (&base, &(paddr, size, prot)) = self.mapped.range(..=vaddr).next_back()?;
        (vaddr < base + size.bytes()).then_some((base, paddr + (vaddr - base), prot))
    }

    /// An access by the application; counts a fault if it would take one.
    pub fn touch(&mut self, vaddr: u64, write: bool) -> Option<u64> {
        match self.lookup(vaddr) {
            Some((_, paddr, prot)) if !write || prot.contains(Prot::WRITE) => Some(paddr),
            _ => {
                self.faults += 1;
                None
            }
        }
    }

    /// The application writes a byte.
    pub fn store(&mut self, vaddr: u64, value: u8) {
        if let Some(paddr) = self.touch(vaddr, true) {
            self.mem.insert(paddr, value);
        }
    }

    /// The application reads a byte (`None`: it would fault).
    pub fn load(&mut self, vaddr: u64) -> Option<u8> {
        let paddr = self.touch(vaddr, false)?;
        Some(self.mem.get(&paddr).copied().unwrap_or(0))
    }

    /// Physical bytes, as the personality would see them through the
    /// direct map.
    pub fn phys(&self, paddr: u64) -> u8 {
        self.mem.get(&paddr).copied().unwrap_or(0)
    }

    pub fn phys_store(&mut self, paddr: u64, value: u8) {
        self.mem.insert(paddr, value);
    }

    /// Leaves a mark in every 4 KiB of every free 2 MiB frame, as a previous
    /// job would have.
    pub fn dirty_free_frames(&mut self) {
        let frames = self
            .free
            .get(&PageSize::Large2M)
            .cloned()
            .unwrap_or_default();
        for f in frames {
            for off in (0..PageSize::Large2M.bytes()).step_by(4096) {
                self.mem.insert(f + off, 0xEE);
            }
        }
    }

    /// The books of `space` match this page table and pool exactly.
    pub fn check_matches(&self, space: &AddressSpace) {
        let mut installed = 0;
        for (base, page) in space.pages().iter() {
            assert_eq!(
                self.allocated.get(&page.frame.paddr),
                Some(&page.frame.size),
                "page at {base:#x} holds a frame the pool did not hand out"
            );
            if page.prot.is_none() {
                assert!(
                    !self.mapped.contains_key(&base),
                    "{base:#x} mapped without rights"
                );
            } else {
                installed += 1;
                assert_eq!(
                    self.mapped.get(&base),
                    Some(&(page.frame.paddr, page.frame.size, page.prot)),
                    "page at {base:#x}"
                );
            }
        }
        assert_eq!(installed, self.mapped.len(), "stray mappings");
        assert_eq!(space.pages().len(), self.allocated.len(), "frames leaked");
        assert!(self.conserved(), "frames lost or duplicated");
        if let Err(e) = space.check() {
            panic!("invariant: {e}");
        }
    }
}

impl Backing for FakeBacking {
    fn alloc_frame(&mut self, size: PageSize) -> Option<Frame> {
        let paddr = self.free.get_mut(&size)?.pop()?;
        self.allocated.insert(paddr, size);
        Some(Frame { paddr, size })
    }

    fn free_frame(&mut self, frame: Frame) {
        assert_eq!(
            self.allocated.remove(&frame.paddr),
            Some(frame.size),
            "double free of {frame:x?}"
        );
        assert!(
            !self.mapped_frames.contains(&frame.paddr),
            "freeing mapped {frame:x?}"
        );
        self.free.entry(frame.size).or_default().push(frame.paddr);
    }

    fn map(&mut self, frame: &Frame, vaddr: u64, prot: Prot) -> Result<(), MapFail> {
        if let Some(n) = self.fail_maps_after.as_mut() {
            if *n == 0 {
                return Err(MapFail::NoMemory);
            }
            *n -= 1;
        }
        let size = frame.size.bytes();
        assert!(!prot.is_none(), "map with PROT_NONE");
        assert_eq!(
            vaddr % size,
            0,
            "misaligned mapping of {frame:x?} at {vaddr:#x}"
        );
        assert_eq!(frame.paddr % size, 0, "misaligned frame");
        assert_eq!(
            self.allocated.get(&frame.paddr),
            Some(&frame.size),
            "mapping a free frame"
        );
        assert!(
            self.mapped_frames.insert(frame.paddr),
            "double map of {frame:x?}"
        );
        let overlap = self
            .mapped
            .range(..vaddr + size)
            .next_back()
            .is_some_and(|(&b, &(_, s, _))| b + s.bytes() > vaddr);
        assert!(!overlap, "mapping over a mapping at {vaddr:#x}");
        self.mapped.insert(vaddr, (frame.paddr, frame.size, prot));
        Ok(())
    }

    fn unmap(&mut self, frame: &Frame, vaddr: u64) {
        let entry = self.mapped.remove(&vaddr);
        assert_eq!(
            entry.map(|e| e.0),
            Some(frame.paddr),
            "unmap of what is not mapped there"
        );
        self.mapped_frames.remove(&frame.paddr);
    }

    fn protect(&mut self, frame: &Frame, vaddr: u64, prot: Prot) -> Result<(), MapFail> {
        assert!(!prot.is_none(), "protect to PROT_NONE");
        let entry = self
            .mapped
            .get_mut(&vaddr)
            .expect("protect of an unmapped page");
        assert_eq!(entry.0, frame.paddr);
        entry.2 = prot;
        Ok(())
    }

    fn zero(&mut self, frame: &Frame, offset: u64, len: u64) {
        assert!(
            self.allocated.contains_key(&frame.paddr),
            "zeroing a free frame"
        );
        assert!(offset + len <= frame.size.bytes(), "zero beyond the frame");
        let start = frame.paddr + offset;
        let keys: Vec<u64> = self
            .mem
            .range(start..start + len)
            .map(|(&k, _)| k)
            .collect();
        for k in keys {
            self.mem.remove(&k);
        }
        self.zeroed += len;
    }
}
