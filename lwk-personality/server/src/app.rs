//! An application (a job) on seL4: its own VSpace, a CSpace holding only
//! its badged fault endpoints (on a non-MCS kernel the fault endpoint is
//! looked up in the faulting thread's CSpace, so those caps must be
//! there), and one TCB per thread, each pinned to its application node. All of it comes from
//! the job allocator, whose untypeds are revoked when the job ends.

use crate::PersonalityError;
use lwk_handoff::{slots, Handler};
use sel4::cap_type::{CNode, Pml4, Tcb};
use sel4::Context;
use sel4::{sizes, Cap, CapData, CapRights, ObjectType, PrioProps};
use sel4_alloc::ObjectAllocator;

/// log2 of the job CNode's slots; slot `1 + k` holds the fault endpoint
/// of handler `k` (up to `MAX_NODES` = 8 of them).
const APP_CNODE_BITS: u8 = 4;
/// Depth of slot addresses in the personality's CSpace.
const DEPTH: u8 = 64;
/// Applications run just below their handler (255) on the same core.
const APP_PRIO: u8 = 254;

/// The CPtr, in the job's CSpace, of handler `k`'s fault endpoint.
pub fn fault_ep_cptr(k: usize) -> u64 {
    1 + k as u64
}

/// The seL4 objects of a job: its spaces (threads are made apart).
pub struct AppSpace {
    pub cnode: Cap<CNode>,
    pub pml4: Cap<Pml4>,
}

/// Builds the job's CSpace (one badged fault endpoint per handler: the
/// thread on node `k` faults to handler `k`) and VSpace.
pub fn create(
    jobs: &mut ObjectAllocator,
    handlers: &[Handler],
    badge: u64,
) -> Result<AppSpace, PersonalityError> {
    let cnode: Cap<CNode> = jobs.create(
        ObjectType::CNode,
        APP_CNODE_BITS + sizes::SLOT_BITS as u8,
        &mut (),
    )?;
    let ours = Cap::<CNode>::from_bits(slots::CNODE);
    for (k, h) in handlers.iter().enumerate() {
        // Send + grant: a fault endpoint must allow both on this kernel.
        cnode
            .cnode_mint(
                fault_ep_cptr(k),
                APP_CNODE_BITS,
                ours,
                h.fault_ep,
                DEPTH,
                CapRights::all(),
                CapData::badge(badge),
            )
            .context("CNode_Mint (job fault endpoint)")?;
    }
    let pml4: Cap<Pml4> = jobs.create(ObjectType::Pml4, sizes::PML4_BITS as u8, &mut ())?;
    Cap::<sel4::cap_type::AsidPool>::from_bits(slots::ASID_POOL)
        .asid_pool_assign(pml4.upcast())
        .context("ASIDPool_Assign (job)")?;
    Ok(AppSpace { cnode, pml4 })
}

/// Makes a thread of the job for handler `k` (not started): in the job's
/// spaces, pinned to `node`, faulting to handler `k`.
pub fn create_thread(
    jobs: &mut ObjectAllocator,
    space: &AppSpace,
    k: usize,
    node: u64,
) -> Result<Cap<Tcb>, PersonalityError> {
    let tcb: Cap<Tcb> = jobs.create(ObjectType::Tcb, sizes::TCB_BITS as u8, &mut ())?;
    let guard = CapData::guard(0, (64 - APP_CNODE_BITS) as u64);
    tcb.tcb_configure(
        fault_ep_cptr(k),
        PrioProps::new(APP_PRIO, APP_PRIO),
        space.cnode,
        guard,
        space.pml4.cast(),
        CapData::none(),
        0,
        Cap::from_bits(0),
    )
    .context("TCB_Configure (job)")?;
    sel4::set_affinity(tcb, node).context("TCB_SetAffinity (job)")?;
    Ok(tcb)
}
