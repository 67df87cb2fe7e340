//! The personality's frame pool: the 1 GiB and 2 MiB frames the root task
//! handed over, each with its cap (in our CSpace) and physical address,
//! reachable through the direct map. Allocation is first-fit over runs of
//! consecutive frames; contiguous allocations serve DMA (fw_cfg) and the
//! job pack.

use alloc::vec::Vec;
use lwk_handoff::{FrameRun, Handoff, DIRECT_MAP_BASE};

/// A frame of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Slot of its cap in the personality's CNode.
    pub cap: u64,
    pub paddr: u64,
    pub page_bits: u8,
}

impl Frame {
    /// Its address in the direct map.
    pub fn vaddr(&self) -> u64 {
        DIRECT_MAP_BASE + self.paddr
    }
}

pub struct Pool {
    runs: Vec<FrameRun>,
    /// `free[i][k]`: frame k of run i is free.
    free: Vec<Vec<bool>>,
}

impl Pool {
    pub fn new(h: &Handoff) -> Self {
        let runs: Vec<FrameRun> = h.pool_runs().to_vec();
        let free = runs
            .iter()
            .map(|r| alloc::vec![true; r.count as usize])
            .collect();
        Pool { runs, free }
    }

    /// A pool with nothing in it (a placeholder while the real one is lent).
    pub const fn empty() -> Self {
        Pool {
            runs: Vec::new(),
            free: Vec::new(),
        }
    }

    fn frame(&self, run: usize, k: usize) -> Frame {
        let r = &self.runs[run];
        Frame {
            cap: r.first_cap + k as u64,
            paddr: r.paddr + ((k as u64) << r.page_bits),
            page_bits: r.page_bits as u8,
        }
    }

    /// One frame of `page_bits`.
    pub fn alloc(&mut self, page_bits: u8) -> Option<Frame> {
        self.alloc_contiguous(page_bits, 1).map(|v| v[0])
    }

    /// `n` frames of `page_bits` at consecutive physical (and so direct-map)
    /// addresses.
    pub fn alloc_contiguous(&mut self, page_bits: u8, n: usize) -> Option<Vec<Frame>> {
        for run in 0..self.runs.len() {
            if self.runs[run].page_bits != page_bits as u64 {
                continue;
            }
            let mut len = 0;
            for (k, &is_free) in self.free[run].iter().enumerate() {
                len = if is_free { len + 1 } else { 0 };
                if len == n {
                    let first = k + 1 - n;
                    for f in &mut self.free[run][first..=k] {
                        *f = false;
                    }
                    return Some((first..=k).map(|j| self.frame(run, j)).collect());
                }
            }
        }
        None
    }

    fn locate(&self, paddr: u64) -> Option<(usize, usize)> {
        self.runs.iter().enumerate().find_map(|(i, r)| {
            let size = 1u64 << r.page_bits;
            (paddr >= r.paddr
                && paddr < r.paddr + r.count * size
                && (paddr - r.paddr).is_multiple_of(size))
            .then(|| (i, ((paddr - r.paddr) / size) as usize))
        })
    }

    /// Whether `paddr` is inside the pool.
    pub fn contains(&self, paddr: u64) -> bool {
        self.runs
            .iter()
            .any(|r| paddr >= r.paddr && paddr < r.paddr + (r.count << r.page_bits))
    }

    /// The cap of the frame at `paddr`.
    pub fn cap_at(&self, paddr: u64) -> Option<u64> {
        self.locate(paddr)
            .map(|(i, k)| self.runs[i].first_cap + k as u64)
    }

    /// Returns the frame at `paddr`.
    pub fn release_paddr(&mut self, paddr: u64) {
        if let Some((i, k)) = self.locate(paddr) {
            self.free[i][k] = true;
        }
    }

    /// Returns a frame.
    pub fn release(&mut self, f: Frame) {
        for (i, r) in self.runs.iter().enumerate() {
            if f.cap >= r.first_cap && f.cap < r.first_cap + r.count {
                self.free[i][(f.cap - r.first_cap) as usize] = true;
                return;
            }
        }
    }
}
