//! An application (a job) on seL4: its own VSpace, a CSpace holding only
//! its badged fault endpoint (on a non-MCS kernel the fault endpoint is
//! looked up in the faulting thread's CSpace, so that one cap must be
//! there), and one TCB pinned to an application node. All of it comes from
//! the job allocator, whose untypeds are revoked when the job ends.

use crate::PersonalityError;
use lwk_handoff::slots;
use sel4::cap_type::{CNode, Pml4, Tcb};
use sel4::Context;
use sel4::{sizes, Cap, CapData, CapRights, ObjectType, PrioProps};
use sel4_alloc::ObjectAllocator;

/// log2 of the job CNode's slots; slot 1 holds the fault endpoint.
const APP_CNODE_BITS: u8 = 4;
/// The CPtr of the fault endpoint in the job's CSpace.
pub const FAULT_EP_CPTR: u64 = 1;
/// Depth of slot addresses in the personality's CSpace.
const DEPTH: u8 = 64;
/// Applications run just below their handler (255) on the same core.
const APP_PRIO: u8 = 254;

/// The seL4 objects of a job's thread.
pub struct AppSpace {
    pub tcb: Cap<Tcb>,
    pub pml4: Cap<Pml4>,
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
    Ok(AppSpace { tcb, pml4 })
}
