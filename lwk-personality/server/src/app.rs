//! An application (a job) on seL4: its own VSpace, a CSpace holding only
//! its badged fault endpoint (on a non-MCS kernel the fault endpoint is
//! looked up in the faulting thread's CSpace, so that one cap must be
//! there), one TCB pinned to an application node, and memory backed at
//! once by 2 MiB pool frames (LWK policy: nothing is demand-paged).
//!
//! All kernel objects of a job come from the job allocator, whose untypeds
//! are revoked when the job ends; the pool frames mapped into the job are
//! copies of the pool caps, deleted (unmapped) first and returned.

use crate::pool::{Frame, Pool};
use crate::{Context, PersonalityError};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use lwk_handoff::slots;
use lwk_personality::loader::elf::LoadPlan;
use sel4::cap_type::{CNode, Page, Pml4, Tcb};
use sel4::{sizes, Cap, CapData, CapRights, ObjectType, PrioProps, UserContext};
use sel4_alloc::{ObjectAllocator, PageSize, VSpace};

/// log2 of the job CNode's slots; slot 1 holds the fault endpoint.
const APP_CNODE_BITS: u8 = 4;
/// The CPtr of the fault endpoint in the job's CSpace.
pub const FAULT_EP_CPTR: u64 = 1;
/// Depth of slot addresses in the personality's CSpace.
const DEPTH: u8 = 64;
const LARGE: u64 = 1 << 21;
/// Top of the main stack, and its size.
pub const STACK_TOP: u64 = 0x7fff_ff00_0000;
pub const STACK_SIZE: u64 = 8 << 20;
const APP_PRIO: u8 = 254;

/// A 2 MiB page of the job: the pool frame and the slot of the cap copy
/// that maps it.
#[derive(Debug, Clone, Copy)]
pub struct Page2M {
    pub frame: Frame,
    pub map_slot: u64,
    pub writable: bool,
}

/// The job's memory: every mapped 2 MiB page, by its virtual address.
#[derive(Default)]
pub struct AppMemory {
    pub pages: BTreeMap<u64, Page2M>,
}

impl AppMemory {
    /// The direct-map address of `addr` if mapped (and writable when
    /// `write`), and how many bytes are contiguous from there in that page.
    pub fn translate(&self, addr: u64, write: bool) -> Option<(*mut u8, u64)> {
        let base = addr & !(LARGE - 1);
        let p = self.pages.get(&base)?;
        if write && !p.writable {
            return None;
        }
        let off = addr - base;
        Some(((p.frame.vaddr() + off) as *mut u8, LARGE - off))
    }

    /// Copies between the job and `buf`; `None` if any byte is unmapped.
    pub fn copy(
        &self,
        addr: u64,
        len: usize,
        write: bool,
        mut f: impl FnMut(*mut u8, usize, usize),
    ) -> Option<()> {
        let mut done = 0usize;
        while done < len {
            let a = addr.checked_add(done as u64)?;
            let (p, avail) = self.translate(a, write)?;
            let n = (len - done).min(avail as usize);
            f(p, done, n);
            done += n;
        }
        Some(())
    }
}

/// The seL4 objects of a running job.
pub struct AppSpace {
    pub tcb: Cap<Tcb>,
    pub vspace: VSpace,
    pub mem: AppMemory,
}

/// Builds the job's spaces and thread (not started).
pub fn create(
    jobs: &mut ObjectAllocator,
    node: u64,
    fault_ep: u64,
    badge: u64,
) -> Result<AppSpace, PersonalityError> {
    let cnode: Cap<CNode> = jobs.create(
        ObjectType::CNode,
        APP_CNODE_BITS + sizes::SLOT_BITS as u8,
        &mut (),
    )?;
    let ours = Cap::<CNode>::from_bits(slots::CNODE);
    // Send + grant: a fault endpoint must allow both on this kernel.
    cnode
        .cnode_mint(
            FAULT_EP_CPTR,
            APP_CNODE_BITS,
            ours,
            fault_ep,
            DEPTH,
            CapRights::all(),
            CapData::badge(badge),
        )
        .context("CNode_Mint (job fault endpoint)")?;
    let pml4: Cap<Pml4> = jobs.create(ObjectType::Pml4, sizes::PML4_BITS as u8, &mut ())?;
    Cap::<sel4::cap_type::AsidPool>::from_bits(slots::ASID_POOL)
        .asid_pool_assign(pml4.upcast())
        .context("ASIDPool_Assign (job)")?;
    let tcb: Cap<Tcb> = jobs.create(ObjectType::Tcb, sizes::TCB_BITS as u8, &mut ())?;
    let guard = CapData::guard(0, (64 - APP_CNODE_BITS) as u64);
    tcb.tcb_configure(
        FAULT_EP_CPTR,
        PrioProps::new(APP_PRIO, APP_PRIO),
        cnode,
        guard,
        pml4.cast(),
        CapData::none(),
        0,
        Cap::from_bits(0),
    )
    .context("TCB_Configure (job)")?;
    sel4::set_affinity(tcb, node).context("TCB_SetAffinity (job)")?;
    Ok(AppSpace {
        tcb,
        vspace: VSpace::new(pml4),
        mem: AppMemory::default(),
    })
}

impl AppSpace {
    /// Backs `[start, end)` (2 MiB aligned) with zeroed pool frames mapped
    /// with `writable`, merging with pages already there.
    pub fn back(
        &mut self,
        start: u64,
        end: u64,
        writable: bool,
        pool: &mut Pool,
        jobs: &mut ObjectAllocator,
    ) -> Result<(), PersonalityError> {
        let mut page = start & !(LARGE - 1);
        while page < end {
            if !self.mem.pages.contains_key(&page) {
                let frame = pool.alloc(21).ok_or(PersonalityError::PoolExhausted)?;
                // SAFETY: the frame is ours (just taken from the pool) and
                // mapped read-write in the direct map; nothing else uses it.
                unsafe { core::ptr::write_bytes(frame.vaddr() as *mut u8, 0, LARGE as usize) };
                let slot = jobs.slot()?;
                let ours = Cap::<CNode>::from_bits(slots::CNODE);
                let rights = if writable {
                    CapRights::read_write()
                } else {
                    CapRights::read_only()
                };
                ours.cnode_copy(slot, DEPTH, ours, frame.cap, DEPTH, rights)
                    .context("CNode_Copy (job frame)")?;
                self.vspace.map(
                    Cap::<Page>::from_bits(slot),
                    page,
                    PageSize::Large,
                    rights,
                    jobs,
                    &mut (),
                )?;
                self.mem.pages.insert(
                    page,
                    Page2M {
                        frame,
                        map_slot: slot,
                        writable,
                    },
                );
            }
            page += LARGE;
        }
        Ok(())
    }

    /// Maps the image of `plan` from `file` (already rewritten): 2 MiB pages
    /// with the union of the rights of the segments that share them (the
    /// documented cost of large pages for small static binaries).
    pub fn load(
        &mut self,
        plan: &LoadPlan,
        file: &[u8],
        pool: &mut Pool,
        jobs: &mut ObjectAllocator,
    ) -> Result<(), PersonalityError> {
        let mut writable: BTreeMap<u64, bool> = BTreeMap::new();
        for seg in &plan.segments {
            let r = seg.range();
            let mut page = r.start & !(LARGE - 1);
            while page < r.end {
                *writable.entry(page).or_insert(false) |= seg.perms.write;
                page += LARGE;
            }
        }
        for (&page, &w) in &writable {
            self.back(page, page + LARGE, w, pool, jobs)?;
        }
        for seg in &plan.segments {
            let data = seg.file_bytes(file);
            self.mem
                .copy(seg.vaddr, data.len(), false, |dst, off, n| {
                    // SAFETY: `dst` is a direct-map address of one of the
                    // job's frames with `n` bytes available; the source is
                    // the pack in pool memory; they never overlap.
                    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr().add(off), dst, n) }
                })
                .ok_or(PersonalityError::ImageOutsideJob)?;
        }
        Ok(())
    }

    /// Starts the thread.
    pub fn start(&self, regs: &UserContext) -> Result<(), PersonalityError> {
        self.tcb
            .tcb_write_registers(true, 0, UserContext::WORDS as u64, regs)
            .context("TCB_WriteRegisters (job start)")
    }

    /// Tears the job down: stops the thread, deletes the frame caps (which
    /// unmaps them), returns the frames, and revokes every kernel object of
    /// the job.
    pub fn destroy(
        self,
        pool: &mut Pool,
        jobs: &mut ObjectAllocator,
        jobs_first_slot: u64,
    ) -> Result<(), PersonalityError> {
        let _ = self.tcb.tcb_suspend();
        let ours = Cap::<CNode>::from_bits(slots::CNODE);
        let pages: Vec<Page2M> = self.mem.pages.into_values().collect();
        for p in pages {
            ours.cnode_delete(p.map_slot, DEPTH)
                .context("CNode_Delete (job frame)")?;
            pool.release(p.frame);
        }
        jobs.revoke_all(jobs_first_slot, DEPTH)?;
        Ok(())
    }
}
