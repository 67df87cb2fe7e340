//! A model of seL4's untyped allocator, to replay a plan's steps.
//!
//! Mirrors `decodeUntypedInvocation` in seL4 5.0 `src/object/untyped.c`:
//! an untyped has a watermark (free index); a retype of `count` objects of
//! `2^bits` bytes starts at the watermark aligned up to `2^bits`, fails if
//! the objects run past the end, and moves the watermark behind them. The
//! model also refuses what the plan must never do (device memory, empty or
//! over-fan-out retypes) and counts the bytes alignment skipped.

use std::collections::BTreeMap;

use crate::{PageSize, Step, Untyped, UntypedRef, RETYPE_FAN_OUT_LIMIT};

/// One untyped cap in the model.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    pub paddr: u64,
    pub size_bits: u8,
    pub is_device: bool,
    pub watermark: u64,
}

/// Why a replay failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    NoSuchUntyped { step: usize, untyped: UntypedRef },
    DeviceMemory { step: usize },
    BadCount { step: usize, count: u32 },
    ObjectTooBig { step: usize },
    NotEnoughMemory { step: usize },
}

/// The replay state and what it produced.
#[derive(Debug, Default)]
pub struct Sim {
    pub regions: BTreeMap<UntypedRef, Region>,
    next_child: usize,
    /// Frames created: (paddr, page, step index), in creation order.
    pub frames: Vec<(u64, PageSize, usize)>,
    /// Child untypeds created: (ref, paddr, size_bits), in creation order.
    pub children: Vec<(UntypedRef, u64, u8)>,
    /// Bytes skipped by aligning a watermark up.
    pub padding: u64,
}

impl Sim {
    pub fn new(untypeds: &[Untyped]) -> Self {
        let regions = untypeds
            .iter()
            .map(|u| {
                let region = Region {
                    paddr: u.paddr,
                    size_bits: u.size_bits,
                    is_device: u.is_device,
                    watermark: 0,
                };
                (UntypedRef::Boot(u.index), region)
            })
            .collect();
        Sim {
            regions,
            ..Sim::default()
        }
    }

    /// Executes every step in order.
    pub fn run(&mut self, steps: &[Step]) -> Result<(), SimError> {
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Split {
                    untyped,
                    child_bits,
                    count,
                } => {
                    let first = self.retype(i, untyped, child_bits, count)?;
                    for n in 0..u64::from(count) {
                        let child = UntypedRef::Child(self.next_child);
                        self.next_child += 1;
                        let paddr = first + (n << child_bits);
                        self.regions.insert(
                            child,
                            Region {
                                paddr,
                                size_bits: child_bits,
                                is_device: false,
                                watermark: 0,
                            },
                        );
                        self.children.push((child, paddr, child_bits));
                    }
                }
                Step::Frames {
                    untyped,
                    page,
                    count,
                } => {
                    let first = self.retype(i, untyped, page.bits(), count)?;
                    for n in 0..u64::from(count) {
                        self.frames.push((first + n * page.bytes(), page, i));
                    }
                }
            }
        }
        Ok(())
    }

    /// One `Untyped_Retype`; returns the first object's physical address.
    fn retype(
        &mut self,
        step: usize,
        untyped: UntypedRef,
        bits: u8,
        count: u32,
    ) -> Result<u64, SimError> {
        if count == 0 || count > RETYPE_FAN_OUT_LIMIT {
            return Err(SimError::BadCount { step, count });
        }
        let region = self
            .regions
            .get_mut(&untyped)
            .ok_or(SimError::NoSuchUntyped { step, untyped })?;
        if region.is_device {
            return Err(SimError::DeviceMemory { step });
        }
        if bits > region.size_bits {
            return Err(SimError::ObjectTooBig { step });
        }
        let size = 1u64 << bits;
        let start = region.watermark.next_multiple_of(size);
        let end = start + u64::from(count) * size;
        if end > 1u64 << region.size_bits {
            return Err(SimError::NotEnoughMemory { step });
        }
        self.padding += start - region.watermark;
        region.watermark = end;
        Ok(region.paddr + start)
    }
}
