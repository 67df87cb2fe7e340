//! Kernel objects for seL4 components that build other components.
//!
//! [`ObjectAllocator`] hands out CNode slots and retypes objects from a set
//! of untyped regions; [`VSpace`] maps frames and creates the paging
//! structures (PDPT, page directory, page table) a mapping needs, on demand.
//! Every object created is reported to an [`ObjectSink`], so the caller can
//! keep the record of the system it builds (the capDL spec).

#![no_std]

extern crate alloc;

mod objects;
mod vspace;

pub use objects::{AllocError, CreatedObject, ObjectAllocator, ObjectSink, UntypedRegion};
pub use vspace::{MapError, PageSize, VSpace};
