//! Slots and untyped memory.
//!
//! seL4 allocates inside an untyped sequentially, aligning each object to
//! its own size, and never reuses memory until the whole untyped is revoked.
//! The allocator mirrors that watermark, so it knows without asking the
//! kernel whether an object still fits and what its physical address is.

use alloc::vec::Vec;
use core::fmt;
use sel4::cap_type::{CNode, Untyped};
use sel4::{Cap, CapType, ObjectType, Word};

/// An untyped region this allocator may retype from.
#[derive(Debug, Clone, Copy)]
pub struct UntypedRegion {
    pub cap: Cap<Untyped>,
    pub paddr: Word,
    pub size_bits: u8,
    /// Bytes already used (the kernel's watermark, as far as we know it).
    pub used: Word,
}

/// An object that was created.
#[derive(Debug, Clone, Copy)]
pub struct CreatedObject {
    pub ty: ObjectType,
    pub size_bits: u8,
    pub paddr: Word,
    pub slot: Word,
}

/// Receives every object created (for the capDL record).
pub trait ObjectSink {
    fn created(&mut self, obj: &CreatedObject);
    /// A paging structure (by slot) was mapped at `vaddr` in the VSpace
    /// whose PML4 is at slot `pml4`.
    fn table_mapped(&mut self, _pml4: Word, _table: Word, _vaddr: Word) {}
}

/// A sink that keeps nothing.
impl ObjectSink for () {
    fn created(&mut self, _: &CreatedObject) {}
}

/// Why an object could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    /// No free slot left in the CNode.
    OutOfSlots,
    /// No untyped region can hold an object of this size.
    OutOfMemory { size_bits: u8 },
    /// The kernel refused the retype.
    Kernel(sel4::Error),
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::OutOfSlots => write!(f, "no free CNode slot"),
            AllocError::OutOfMemory { size_bits } => {
                write!(f, "no untyped memory for a 2^{size_bits}-byte object")
            }
            AllocError::Kernel(e) => write!(f, "Untyped_Retype: {e}"),
        }
    }
}

/// Hands out slots of one CNode and objects from untyped regions.
pub struct ObjectAllocator {
    cnode: Cap<CNode>,
    /// Depth to address a slot of `cnode` from the caller's CSpace root
    /// (`node_depth` for retype destinations is 0: the root itself).
    next_slot: Word,
    end_slot: Word,
    regions: Vec<UntypedRegion>,
}

impl ObjectAllocator {
    /// Slots `[first_slot, end_slot)` of the caller's root CNode `cnode`,
    /// and `regions` to retype from. Regions are tried smallest first, so
    /// large regions stay whole as long as possible.
    pub fn new(
        cnode: Cap<CNode>,
        first_slot: Word,
        end_slot: Word,
        mut regions: Vec<UntypedRegion>,
    ) -> Self {
        regions.sort_by_key(|r| (r.size_bits, r.paddr));
        ObjectAllocator {
            cnode,
            next_slot: first_slot,
            end_slot,
            regions,
        }
    }

    /// A free slot.
    pub fn slot(&mut self) -> Result<Word, AllocError> {
        if self.next_slot >= self.end_slot {
            return Err(AllocError::OutOfSlots);
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// `count` consecutive free slots; returns the first.
    pub fn slots(&mut self, count: Word) -> Result<Word, AllocError> {
        if self.end_slot - self.next_slot < count {
            return Err(AllocError::OutOfSlots);
        }
        self.next_slot += count;
        Ok(self.next_slot - count)
    }

    /// The first slot not yet handed out, and the end of the range.
    pub fn free_slots(&self) -> (Word, Word) {
        (self.next_slot, self.end_slot)
    }

    /// Bytes still available in the regions (ignoring alignment losses).
    pub fn free_bytes(&self) -> Word {
        self.regions
            .iter()
            .map(|r| (1u64 << r.size_bits) - r.used.min(1u64 << r.size_bits))
            .sum()
    }

    /// The regions, with their watermarks.
    pub fn regions(&self) -> &[UntypedRegion] {
        &self.regions
    }

    /// Removes and returns the regions nothing was retyped from yet (to give
    /// them to another allocator, e.g. one that is reset per job).
    pub fn take_unused_regions(&mut self) -> Vec<UntypedRegion> {
        let (unused, used) = self.regions.drain(..).partition(|r| r.used == 0);
        self.regions = used;
        unused
    }

    /// Splits off `count` slots from the end of the free range for another
    /// allocator; returns `(first, end)`.
    pub fn split_slots(&mut self, count: Word) -> Result<(Word, Word), AllocError> {
        if self.end_slot - self.next_slot < count {
            return Err(AllocError::OutOfSlots);
        }
        self.end_slot -= count;
        Ok((self.end_slot, self.end_slot + count))
    }

    /// Destroys every object this allocator created: revokes each used
    /// untyped (the kernel deletes all objects retyped from it and their
    /// caps), so its memory and this allocator's slots can be used again.
    /// `depth` addresses an untyped's slot in the CNode (64 for a guarded
    /// single-level CSpace). Caps copied into this allocator's slots from
    /// elsewhere must have been deleted first.
    pub fn revoke_all(&mut self, first_slot: Word, depth: u8) -> Result<(), AllocError> {
        for r in self.regions.iter_mut().filter(|r| r.used > 0) {
            self.cnode
                .cnode_revoke(r.cap.bits(), depth)
                .map_err(AllocError::Kernel)?;
            r.used = 0;
        }
        self.next_slot = first_slot;
        Ok(())
    }

    /// Creates one object; `obj_bits` is its size in bits (the size_bits
    /// argument of `Untyped_Retype` is derived from it for the types whose
    /// size is fixed).
    pub fn create<T: CapType>(
        &mut self,
        ty: ObjectType,
        obj_bits: u8,
        sink: &mut dyn ObjectSink,
    ) -> Result<Cap<T>, AllocError> {
        let size = 1u64 << obj_bits;
        let idx = self
            .regions
            .iter()
            .position(|r| {
                r.size_bits >= obj_bits
                    && r.used.div_ceil(size) * size + size <= (1u64 << r.size_bits)
            })
            .ok_or(AllocError::OutOfMemory {
                size_bits: obj_bits,
            })?;
        let slot = self.slot()?;
        let r = &mut self.regions[idx];
        let offset = r.used.div_ceil(size) * size;
        let arg_bits = match ty {
            ObjectType::Untyped | ObjectType::CNode => variable_bits(ty, obj_bits),
            _ => 0,
        };
        r.cap
            .untyped_retype(ty as Word, arg_bits, self.cnode, 0, 0, slot, 1)
            .map_err(AllocError::Kernel)?;
        r.used = offset + size;
        let obj = CreatedObject {
            ty,
            size_bits: obj_bits,
            paddr: r.paddr + offset,
            slot,
        };
        sink.created(&obj);
        Ok(Cap::from_bits(slot))
    }
}

/// `size_bits` argument of `Untyped_Retype` for variable-size objects: an
/// untyped takes its byte size, a CNode its number of slots (each slot is
/// 2^SLOT_BITS bytes).
fn variable_bits(ty: ObjectType, obj_bits: u8) -> Word {
    match ty {
        ObjectType::CNode => (obj_bits as usize - sel4::sizes::SLOT_BITS) as Word,
        _ => obj_bits as Word,
    }
}
