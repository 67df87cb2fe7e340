//! Slots and untyped memory for the objects the root task creates.
//!
//! Slots come from the bootinfo's empty region, in order. Objects are
//! retyped from RAM untypeds, smallest first that can still hold them, so
//! the large untypeds stay whole for the LWK memory pool.

use crate::{Context, RootTaskError};
use alloc::vec::Vec;
use sel4::bootinfo::BootInfo;
use sel4::cap_type::{CNode, Untyped};
use sel4::{init_caps, Cap, CapType, ObjectType};

/// A RAM untyped and how much of it has been used (seL4 allocates inside
/// an untyped sequentially, aligning each object to its size).
#[derive(Debug, Clone, Copy)]
struct Region {
    cap: Cap<Untyped>,
    size_bits: u8,
    used: u64,
}

pub struct CapAllocator {
    next_slot: u64,
    end_slot: u64,
    regions: Vec<Region>,
}

impl CapAllocator {
    pub fn new(bi: &BootInfo) -> Self {
        let mut regions: Vec<Region> = bi
            .untyped_list()
            .filter(|u| !u.is_device)
            .map(|u| Region {
                cap: Cap::from_bits(u.cap),
                size_bits: u.size_bits,
                used: 0,
            })
            .collect();
        regions.sort_by_key(|r| r.size_bits);
        CapAllocator {
            next_slot: bi.empty().start,
            end_slot: bi.empty().end,
            regions,
        }
    }

    /// A free slot of the root CNode.
    pub fn slot(&mut self) -> Result<u64, RootTaskError> {
        if self.next_slot >= self.end_slot {
            return Err(RootTaskError::OutOfResources("CNode slots"));
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// Creates one object of `ty` (`size_bits` for variable-size types) and
    /// returns the cap to it.
    pub fn create<T: CapType>(
        &mut self,
        ty: ObjectType,
        obj_bits: u8,
    ) -> Result<Cap<T>, RootTaskError> {
        let slot = self.slot()?;
        let size = 1u64 << obj_bits;
        let region = self
            .regions
            .iter_mut()
            .find(|r| {
                let start = r.used.div_ceil(size) * size;
                r.size_bits >= obj_bits && start + size <= (1u64 << r.size_bits)
            })
            .ok_or(RootTaskError::OutOfResources("untyped memory"))?;
        region
            .cap
            .untyped_retype(ty as u64, obj_bits as u64, init_caps::CNODE, 0, 0, slot, 1)
            .context("Untyped_Retype")?;
        region.used = region.used.div_ceil(size) * size + size;
        Ok(Cap::from_bits(slot))
    }

    /// The root CNode, for invocations that take a CNode.
    pub fn root_cnode(&self) -> Cap<CNode> {
        init_caps::CNODE
    }
}
