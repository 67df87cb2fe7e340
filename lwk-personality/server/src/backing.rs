//! The memory manager's `Backing` on seL4: pool frames (2 MiB, 1 GiB) from
//! the personality's pool, 4 KiB frames (only where an ELF segment's rights
//! change inside 2 MiB) retyped from the job's untypeds; each mapping in the
//! application's VSpace is a copy of the frame's cap, deleted to unmap.
//!
//! The personality reaches every frame without kernel calls: pool frames
//! through the direct map, 4 KiB frames through a second window mapped when
//! they are made (`SMALL_WINDOW + paddr`).

use crate::pool::Pool;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use lwk_handoff::{slots, DIRECT_MAP_BASE};
use lwk_personality::mm::{Backing, Frame, MapFail, PageSize, Prot};
use sel4::cap_type::{CNode, Page, Pml4};
use sel4::{sizes, Cap, CapRights, ObjectType};
use sel4_alloc::{CreatedObject, ObjectAllocator, ObjectSink, VSpace};

/// Where the personality sees the job's 4 KiB frames.
pub const SMALL_WINDOW: u64 = 0x0000_5800_0000_0000;
/// Depth of slot addresses in the personality's CSpace.
const DEPTH: u8 = 64;

/// What a job consumes, lent to it by the control thread for its run.
pub struct Resources {
    pub pool: Pool,
    /// Allocator for the job's kernel objects (revoked after the job).
    pub jobs: ObjectAllocator,
    pub jobs_first_slot: u64,
}

impl Resources {
    /// Nothing: what stands in the lender's hands while a job has the
    /// resources.
    pub fn empty() -> Self {
        Resources {
            pool: Pool::empty(),
            jobs: ObjectAllocator::new(Cap::from_bits(0), 0, 0, Vec::new()),
            jobs_first_slot: 0,
        }
    }
}

/// The backing of one job.
pub struct JobBacking {
    pub res: Resources,
    pub vspace: VSpace,
    /// Application vaddr → slot of the cap copy mapped there.
    maps: BTreeMap<u64, u64>,
    /// 4 KiB frames made for this job: paddr → slot of the original cap.
    small: BTreeMap<u64, u64>,
}

/// Records the physical address of the one object just created.
struct Last(Option<CreatedObject>);
impl ObjectSink for Last {
    fn created(&mut self, o: &CreatedObject) {
        self.0 = Some(*o);
    }
}

fn page_size(s: PageSize) -> sel4_alloc::PageSize {
    match s {
        PageSize::Small4K => sel4_alloc::PageSize::Small,
        PageSize::Large2M => sel4_alloc::PageSize::Large,
        PageSize::Huge1G => sel4_alloc::PageSize::Huge,
    }
}

fn rights(p: Prot) -> CapRights {
    if p.contains(Prot::WRITE) {
        CapRights::read_write()
    } else {
        CapRights::read_only()
    }
}

impl JobBacking {
    pub fn new(res: Resources, pml4: Cap<Pml4>) -> Self {
        JobBacking {
            res,
            vspace: VSpace::new(pml4),
            maps: BTreeMap::new(),
            small: BTreeMap::new(),
        }
    }

    /// Where the personality reads and writes physical address `paddr` of
    /// this job.
    pub fn view(&self, paddr: u64) -> u64 {
        if self.res.pool.contains(paddr) {
            DIRECT_MAP_BASE + paddr
        } else {
            SMALL_WINDOW + paddr
        }
    }

    fn cap_of(&self, frame: &Frame) -> Option<u64> {
        match frame.size {
            PageSize::Small4K => self.small.get(&frame.paddr).copied(),
            _ => self.res.pool.cap_at(frame.paddr),
        }
    }

    /// Deletes every mapping cap still there (teardown), then gives the
    /// resources back.
    pub fn into_resources(self) -> Resources {
        for (vaddr, slot) in &self.maps {
            unmap_and_delete(*slot, *vaddr);
        }
        self.res
    }
}

impl Backing for JobBacking {
    fn alloc_frame(&mut self, size: PageSize) -> Option<Frame> {
        match size {
            PageSize::Large2M => self.res.pool.alloc(21).map(|f| Frame {
                paddr: f.paddr,
                size,
            }),
            PageSize::Huge1G => self.res.pool.alloc(30).map(|f| Frame {
                paddr: f.paddr,
                size,
            }),
            PageSize::Small4K => {
                let mut last = Last(None);
                let cap: Cap<Page> = self
                    .res
                    .jobs
                    .create(ObjectType::SmallPage, sizes::PAGE_BITS as u8, &mut last)
                    .ok()?;
                let paddr = last.0?.paddr;
                // Our own view of it, for copying and zeroing.
                let ours = VSpace::new(Cap::from_bits(slots::VSPACE));
                ours.map(
                    cap,
                    SMALL_WINDOW + paddr,
                    sel4_alloc::PageSize::Small,
                    CapRights::read_write(),
                    &mut self.res.jobs,
                    &mut (),
                )
                .ok()?;
                self.small.insert(paddr, cap.bits());
                Some(Frame { paddr, size })
            }
        }
    }

    fn free_frame(&mut self, frame: Frame) {
        // 4 KiB frames go with the job's untypeds when it ends.
        if frame.size != PageSize::Small4K {
            self.res.pool.release_paddr(frame.paddr);
        }
    }

    fn map(&mut self, frame: &Frame, vaddr: u64, prot: Prot) -> Result<(), MapFail> {
        let Some(src) = self.cap_of(frame) else {
            sel4_root_task::println!(
                "personality: no cap for frame {:?} at {:#x}",
                frame.size,
                frame.paddr
            );
            return Err(MapFail::Refused);
        };
        let slot = self.res.jobs.slot().map_err(|_| MapFail::NoMemory)?;
        let ours = Cap::<CNode>::from_bits(slots::CNODE);
        if let Err(e) = ours.cnode_copy(slot, DEPTH, ours, src, DEPTH, rights(prot)) {
            sel4_root_task::println!(
                "personality: copying the cap of frame {:#x}: {e}",
                frame.paddr
            );
            return Err(MapFail::Refused);
        }
        match self.vspace.map(
            Cap::from_bits(slot),
            vaddr,
            page_size(frame.size),
            rights(prot),
            &mut self.res.jobs,
            &mut (),
        ) {
            Ok(_) => {
                self.maps.insert(vaddr, slot);
                Ok(())
            }
            Err(sel4_alloc::MapError::Alloc(_)) => {
                let _ = ours.cnode_delete(slot, DEPTH);
                Err(MapFail::NoMemory)
            }
            Err(e) => {
                sel4_root_task::println!(
                    "personality: mapping {:?} at {vaddr:#x}: {e}",
                    frame.size
                );
                let _ = ours.cnode_delete(slot, DEPTH);
                Err(MapFail::Refused)
            }
        }
    }

    fn unmap(&mut self, frame: &Frame, vaddr: u64) {
        match self.maps.remove(&vaddr) {
            // seL4 5.0 unmaps a frame on delete only when the last cap to it
            // goes: unmap the copy explicitly, then delete it.
            Some(slot) => unmap_and_delete(slot, vaddr),
            None => sel4_root_task::println!(
                "personality: unmap of {:?} at {vaddr:#x}: not mapped here",
                frame.size
            ),
        }
    }

    fn protect(&mut self, frame: &Frame, vaddr: u64, prot: Prot) -> Result<(), MapFail> {
        self.unmap(frame, vaddr);
        self.map(frame, vaddr, prot)
    }

    fn zero(&mut self, frame: &Frame, offset: u64, len: u64) {
        let at = self.view(frame.paddr) + offset;
        // SAFETY: the frame belongs to this job and is mapped read-write in
        // the personality (direct map or small window); offset + len is
        // within it by the manager's contract.
        unsafe { core::ptr::write_bytes(at as *mut u8, 0, len as usize) };
    }
}

/// Unmaps the frame cap at `slot` and deletes it.
fn unmap_and_delete(slot: u64, vaddr: u64) {
    if let Err(e) = Cap::<Page>::from_bits(slot).page_unmap() {
        sel4_root_task::println!("personality: unmapping {vaddr:#x}: {e}");
    }
    let _ = Cap::<CNode>::from_bits(slots::CNODE).cnode_delete(slot, DEPTH);
}
