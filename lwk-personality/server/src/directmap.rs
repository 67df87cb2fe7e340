//! The direct map: the whole memory pool mapped into the personality's own
//! VSpace with large pages, so the personality reaches any application
//! buffer by address arithmetic, without kernel calls (LWK memory policy:
//! everything premapped, nothing demand-paged).

use crate::PersonalityError;
use lwk_handoff::{slots, FrameRun, Handoff, DIRECT_MAP_BASE, IVSHMEM_VADDR};
use sel4::cap_type::{CNode, Page, Pml4};
use sel4::Context;
use sel4::{Cap, CapRights};
use sel4_alloc::{ObjectAllocator, PageSize, UntypedRegion, VSpace};

/// Where the read-back check maps its second view of a frame.
const ALIAS_VADDR: u64 = 0x0000_5000_0000_0000;
/// Depth of a slot address in the personality's single-level CSpace.
const DEPTH: u8 = 64;

/// The allocator over the untypeds and free slots the root task gave us.
pub fn allocator(h: &Handoff) -> ObjectAllocator {
    let regions = h
        .untypeds()
        .iter()
        .map(|u| UntypedRegion {
            cap: Cap::from_bits(u.cap),
            paddr: u.paddr,
            size_bits: u.size_bits as u8,
            used: 0,
        })
        .collect();
    ObjectAllocator::new(
        Cap::<CNode>::from_bits(slots::CNODE),
        h.free_slots_first,
        h.free_slots_end,
        regions,
    )
}

fn page_size(bits: u64) -> PageSize {
    match bits {
        30 => PageSize::Huge,
        21 => PageSize::Large,
        _ => PageSize::Small,
    }
}

fn vspace() -> VSpace {
    VSpace::new(Cap::<Pml4>::from_bits(slots::VSPACE))
}

/// What the direct map covers.
pub struct DirectMap {
    pub bytes: u64,
    pub structures: u32,
}

/// Maps every pool frame at `DIRECT_MAP_BASE + paddr`, then proves the
/// mapping is the frame: a pattern written through the direct map is read
/// through a second mapping of the same frame (a copied cap).
pub fn map_pool(h: &Handoff, alloc: &mut ObjectAllocator) -> Result<DirectMap, PersonalityError> {
    let vs = vspace();
    let mut dm = DirectMap {
        bytes: 0,
        structures: 0,
    };
    for run in h.pool_runs() {
        dm.structures += map_run(&vs, run, DIRECT_MAP_BASE, alloc)?;
        dm.bytes += run.bytes();
    }
    if let Some(run) = h.pool_runs().last() {
        check_frame(&vs, run, alloc)?;
    }
    Ok(dm)
}

fn map_run(
    vs: &VSpace,
    run: &FrameRun,
    base: u64,
    alloc: &mut ObjectAllocator,
) -> Result<u32, PersonalityError> {
    let size = page_size(run.page_bits);
    let mut structures = 0;
    for i in 0..run.count {
        let frame = Cap::<Page>::from_bits(run.first_cap + i);
        let vaddr = base + run.paddr + (i << run.page_bits);
        structures += vs.map(frame, vaddr, size, CapRights::read_write(), alloc, &mut ())?;
    }
    Ok(structures)
}

fn check_frame(
    vs: &VSpace,
    run: &FrameRun,
    alloc: &mut ObjectAllocator,
) -> Result<(), PersonalityError> {
    let last = run.count - 1;
    let paddr = run.paddr + (last << run.page_bits);
    let alias = alloc.slot()?;
    let cnode = Cap::<CNode>::from_bits(slots::CNODE);
    cnode
        .cnode_copy(
            alias,
            DEPTH,
            cnode,
            run.first_cap + last,
            DEPTH,
            CapRights::read_write(),
        )
        .context("CNode_Copy (alias of a pool frame)")?;
    let alias_cap = Cap::<Page>::from_bits(alias);
    vs.map(
        alias_cap,
        ALIAS_VADDR,
        page_size(run.page_bits),
        CapRights::read_write(),
        alloc,
        &mut (),
    )?;
    let direct = (DIRECT_MAP_BASE + paddr) as *mut u64;
    let second = ALIAS_VADDR as *const u64;
    let words = (1u64 << run.page_bits) / 8;
    let pattern = |i: u64| (paddr + i * 8) ^ 0x5a5a_a5a5_1234_5678;
    let ok = (0..words).step_by(4099).all(|i| {
        // SAFETY: both addresses are mapped read-write to the same frame of
        // `1 << page_bits` bytes just above; i < words keeps accesses inside
        // it; volatile so the compiler cannot elide the round trip.
        unsafe {
            direct.add(i as usize).write_volatile(pattern(i));
            second.add(i as usize).read_volatile() == pattern(i)
        }
    });
    alias_cap.page_unmap().context("Page_Unmap (alias)")?;
    cnode
        .cnode_delete(alias, DEPTH)
        .context("CNode_Delete (alias)")?;
    if ok {
        Ok(())
    } else {
        Err(PersonalityError::DirectMapMismatch { paddr })
    }
}

/// Maps the shared buffer, if the root task found the device. Uncached
/// would be wrong here: both QEMU guests see ordinary write-back RAM.
pub fn map_ivshmem(
    h: &Handoff,
    alloc: &mut ObjectAllocator,
) -> Result<Option<(u64, u64)>, PersonalityError> {
    let run = &h.ivshmem;
    if run.count == 0 {
        return Ok(None);
    }
    let shifted = FrameRun { paddr: 0, ..*run };
    map_run(&vspace(), &shifted, IVSHMEM_VADDR, alloc)?;
    Ok(Some((run.paddr, run.bytes())))
}
