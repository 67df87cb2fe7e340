//! Executes the carving plan (`carve-plan`): the LWK memory pool of 1 GiB
//! and 2 MiB frames and the kernel-object reserve, from the bootinfo's
//! untypeds. The plan is computed by pure, host-tested code; this module
//! only replays its `Untyped_Retype` steps in order and collects the caps.

use crate::RootTaskError;
use alloc::vec::Vec;
use carve_plan::{Plan, PlanConfig, Step, UntypedRef};
use sel4::bootinfo::BootInfo;
use sel4::cap_type::Untyped;
use sel4::Context;
use sel4::{init_caps, Cap, ObjectType, Word};
use sel4_alloc::{ObjectAllocator, UntypedRegion};

/// Kernel-object reserve: the personality's image, CNode and threads, the
/// paging structures of the direct map and of applications, endpoints.
pub const RESERVE_BYTES: u64 = 8 << 20;

/// One run of pool frames with consecutive caps and physical addresses.
#[derive(Debug, Clone, Copy)]
pub struct PoolRun {
    pub first_cap: Word,
    pub count: Word,
    pub paddr: Word,
    pub page_bits: u8,
}

/// The carved memory.
pub struct Carved {
    pub plan: Plan,
    pub pool: Vec<PoolRun>,
    /// The reserve, as regions for an object allocator.
    pub reserve: Vec<UntypedRegion>,
}

/// Plans from the bootinfo's untyped list.
pub fn plan(bi: &BootInfo) -> Result<Plan, RootTaskError> {
    let untypeds: Vec<carve_plan::Untyped> = bi
        .untyped_list()
        .enumerate()
        .map(|(index, u)| carve_plan::Untyped {
            index,
            paddr: u.paddr,
            size_bits: u.size_bits,
            is_device: u.is_device,
        })
        .collect();
    let config = PlanConfig {
        reserve_bytes: RESERVE_BYTES,
        max_overhead_percent: 3,
        allow_huge: sel4::config::HUGE_PAGE,
        guest_ram_bytes: None,
    };
    carve_plan::plan(&untypeds, &config).map_err(|e| {
        if let carve_plan::PlanError::BadUntyped { index, .. } = e {
            if let Some(u) = untypeds.get(index) {
                sel4_root_task::println!(
                    "carve: untyped {index}: paddr {:#x} size 2^{} device={}",
                    u.paddr,
                    u.size_bits,
                    u.is_device
                );
            }
        }
        RootTaskError::Plan(e)
    })
}

/// Replays the plan's steps; new caps go to consecutive free slots taken
/// from `slots` (an allocator used for slots only at this point: the plan
/// requires every RAM untyped to be fresh).
pub fn execute(
    bi: &BootInfo,
    plan: Plan,
    slots: &mut ObjectAllocator,
) -> Result<Carved, RootTaskError> {
    let first_untyped = bi.untyped().start;
    let mut children: Vec<Cap<Untyped>> = Vec::new();
    let cap_of = |r: UntypedRef, children: &[Cap<Untyped>]| match r {
        UntypedRef::Boot(i) => Cap::<Untyped>::from_bits(first_untyped + i as Word),
        UntypedRef::Child(i) => children[i],
    };
    let mut step_first_cap: Vec<Word> = Vec::with_capacity(plan.steps.len());
    for step in &plan.steps {
        let ut = cap_of(step.untyped(), &children);
        let count = step.count() as Word;
        let first = slots.slots(count)?;
        step_first_cap.push(first);
        let (ty, bits) = match *step {
            Step::Split { child_bits, .. } => (ObjectType::Untyped, child_bits),
            Step::Frames { page, .. } => (frame_type(page), page.bits()),
        };
        // Frames take no size argument; untypeds take their size in bits.
        let arg = if ty == ObjectType::Untyped {
            bits as Word
        } else {
            0
        };
        ut.untyped_retype(ty as Word, arg, init_caps::CNODE, 0, 0, first, count)
            .context("Untyped_Retype (carve)")?;
        if let Step::Split { .. } = step {
            children.extend((0..count).map(|i| Cap::from_bits(first + i)));
        }
    }
    // Pool runs: the frames of each step, in order, have consecutive caps.
    let mut pool: Vec<PoolRun> = Vec::new();
    let mut index_in_step: Vec<Word> = alloc::vec![0; plan.steps.len()];
    for f in &plan.pool {
        let cap = step_first_cap[f.step] + index_in_step[f.step];
        index_in_step[f.step] += 1;
        let bits = f.page.bits();
        match pool.last_mut() {
            Some(r)
                if r.page_bits == bits
                    && r.first_cap + r.count == cap
                    && r.paddr + (r.count << bits) == f.paddr =>
            {
                r.count += 1
            }
            _ => pool.push(PoolRun {
                first_cap: cap,
                count: 1,
                paddr: f.paddr,
                page_bits: bits,
            }),
        }
    }
    let reserve = plan
        .reserve
        .iter()
        .map(|b| UntypedRegion {
            cap: cap_of(b.untyped, &children),
            paddr: b.paddr,
            size_bits: b.size_bits,
            used: 0,
        })
        .collect();
    Ok(Carved {
        plan,
        pool,
        reserve,
    })
}

fn frame_type(page: carve_plan::PageSize) -> ObjectType {
    match page {
        carve_plan::PageSize::Large2M => ObjectType::LargePage,
        carve_plan::PageSize::Huge1G => sel4_alloc::PageSize::Huge.object_type(),
    }
}

/// Records the pool frames and reserve untypeds the plan created.
pub fn record(c: &Carved, rec: &mut crate::record::Record) {
    for r in &c.pool {
        let ty = if r.page_bits == 30 {
            sel4_alloc::PageSize::Huge.object_type()
        } else {
            ObjectType::LargePage
        };
        for i in 0..r.count {
            rec.object(
                r.first_cap + i,
                ty,
                r.page_bits,
                r.paddr + (i << r.page_bits),
            );
            rec.name(r.first_cap + i, "pool");
        }
    }
    for u in &c.reserve {
        rec.object(u.cap.bits(), ObjectType::Untyped, u.size_bits, u.paddr);
    }
}

/// Splits the reserve between the root task (which builds the personality
/// from it, including its 512 KiB CNode: it needs the large blocks) and the
/// personality (which gets whole, untouched untypeds for its own kernel
/// objects, mostly 4 KiB paging structures): the personality takes the
/// smallest blocks while it stays at or below half of the reserve.
pub fn split_reserve(reserve: &[UntypedRegion]) -> (Vec<UntypedRegion>, Vec<UntypedRegion>) {
    let total: u64 = reserve.iter().map(|r| 1u64 << r.size_bits).sum();
    let mut sorted: Vec<UntypedRegion> = reserve.to_vec();
    sorted.sort_by_key(|r| (r.size_bits, r.paddr));
    let (mut root, mut pers) = (Vec::new(), Vec::new());
    let mut given = 0u64;
    for r in sorted {
        let size = 1u64 << r.size_bits;
        if given + size <= total / 2 {
            given += size;
            pers.push(r);
        } else {
            root.push(r);
        }
    }
    (root, pers)
}
