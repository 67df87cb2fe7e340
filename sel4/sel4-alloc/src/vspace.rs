//! Mapping frames into an address space, creating the paging structures a
//! mapping needs on demand.
//!
//! x86_64 has four levels: PML4 → PDPT (512 GiB each) → page directory
//! (1 GiB) → page table (2 MiB). A 1 GiB frame needs a PDPT, a 2 MiB frame
//! a page directory, a 4 KiB frame a page table. When `Page_Map` fails with
//! `FailedLookup` the next level up is missing: create and map it (which
//! may itself need the level above), then retry. Knowing nothing in advance
//! about the VSpace makes this work both for fresh address spaces and for
//! the root task's own, which the kernel built.

use crate::objects::{AllocError, ObjectAllocator, ObjectSink};
use sel4::cap_type::{PageDirectory, PageTable, Pdpt, Pml4, Unspecified};
use sel4::{sizes, Cap, CapRights, Error, ObjectType, VmAttributes, Word};

/// Frame sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    Small,
    Large,
    Huge,
}

impl PageSize {
    pub const fn bits(self) -> u8 {
        match self {
            PageSize::Small => sizes::PAGE_BITS as u8,
            PageSize::Large => sizes::LARGE_PAGE_BITS as u8,
            PageSize::Huge => sizes::HUGE_PAGE_BITS as u8,
        }
    }
    pub const fn bytes(self) -> Word {
        1 << self.bits()
    }
    /// The object type of a frame of this size.
    pub fn object_type(self) -> ObjectType {
        match self {
            PageSize::Small => ObjectType::SmallPage,
            PageSize::Large => ObjectType::LargePage,
            PageSize::Huge => huge_page_type(),
        }
    }
}

fn huge_page_type() -> ObjectType {
    *ObjectType::ALL
        .iter()
        .find(|t| t.c_name() == "seL4_X64_HugePageObject")
        .expect("kernel built without HUGE_PAGE")
}

/// Levels of paging structure below the PML4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Pdpt,
    PageDirectory,
    PageTable,
}

/// An address space, by its PML4 cap.
#[derive(Debug, Clone, Copy)]
pub struct VSpace {
    pub root: Cap<Pml4>,
}

impl VSpace {
    pub const fn new(root: Cap<Pml4>) -> Self {
        VSpace { root }
    }

    fn vroot(&self) -> Cap<Unspecified> {
        self.root.upcast()
    }

    /// Maps `frame` (of `size`) at `vaddr`, write-back cached, creating
    /// paging structures from `alloc` as needed. Returns the number of
    /// structures created.
    pub fn map(
        &self,
        frame: Cap<sel4::cap_type::Page>,
        vaddr: Word,
        size: PageSize,
        rights: CapRights,
        alloc: &mut ObjectAllocator,
        sink: &mut dyn ObjectSink,
    ) -> Result<u32, MapError> {
        let attrs = VmAttributes::DEFAULT;
        if !vaddr.is_multiple_of(size.bytes()) {
            return Err(MapError::Misaligned { vaddr });
        }
        let parent = match size {
            PageSize::Small => Level::PageTable,
            PageSize::Large => Level::PageDirectory,
            PageSize::Huge => Level::Pdpt,
        };
        let mut created = 0;
        loop {
            match frame.page_map(self.vroot(), vaddr, rights, attrs) {
                Ok(()) => return Ok(created),
                Err(Error::FailedLookup) if created < 3 => {
                    created += self.ensure(parent, vaddr, alloc, sink)?
                }
                Err(e) => {
                    return Err(MapError::Kernel {
                        what: "Page_Map",
                        vaddr,
                        err: e,
                    })
                }
            }
        }
    }

    /// Creates and maps the structure of `level` covering `vaddr`, and the
    /// levels above it that are missing.
    fn ensure(
        &self,
        level: Level,
        vaddr: Word,
        alloc: &mut ObjectAllocator,
        sink: &mut dyn ObjectSink,
    ) -> Result<u32, MapError> {
        let mut created = 1;
        let attrs = VmAttributes::DEFAULT;
        let table = match level {
            Level::Pdpt => {
                let t: Cap<Pdpt> = alloc.create(ObjectType::Pdpt, sizes::PDPT_BITS as u8, sink)?;
                t.pdpt_map(self.root, vaddr, attrs)
                    .map_err(|err| MapError::Kernel {
                        what: "PDPT_Map",
                        vaddr,
                        err,
                    })?;
                t.bits()
            }
            Level::PageDirectory => {
                let t: Cap<PageDirectory> =
                    alloc.create(ObjectType::PageDirectory, sizes::PAGE_DIR_BITS as u8, sink)?;
                loop {
                    match t.page_directory_map(self.vroot(), vaddr, attrs) {
                        Ok(()) => break,
                        Err(Error::FailedLookup) if created < 2 => {
                            created += self.ensure(Level::Pdpt, vaddr, alloc, sink)?
                        }
                        Err(err) => {
                            return Err(MapError::Kernel {
                                what: "PageDirectory_Map",
                                vaddr,
                                err,
                            })
                        }
                    }
                }
                t.bits()
            }
            Level::PageTable => {
                let t: Cap<PageTable> =
                    alloc.create(ObjectType::PageTable, sizes::PAGE_TABLE_BITS as u8, sink)?;
                loop {
                    match t.page_table_map(self.vroot(), vaddr, attrs) {
                        Ok(()) => break,
                        Err(Error::FailedLookup) if created < 3 => {
                            created += self.ensure(Level::PageDirectory, vaddr, alloc, sink)?
                        }
                        Err(err) => {
                            return Err(MapError::Kernel {
                                what: "PageTable_Map",
                                vaddr,
                                err,
                            })
                        }
                    }
                }
                t.bits()
            }
        };
        sink.table_mapped(self.root.bits(), table, vaddr);
        Ok(created)
    }
}

/// Why a mapping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    Misaligned {
        vaddr: Word,
    },
    Alloc(AllocError),
    Kernel {
        what: &'static str,
        vaddr: Word,
        err: sel4::Error,
    },
}

impl From<AllocError> for MapError {
    fn from(e: AllocError) -> Self {
        MapError::Alloc(e)
    }
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MapError::Misaligned { vaddr } => {
                write!(f, "mapping at {vaddr:#x} is not aligned to the page size")
            }
            MapError::Alloc(e) => write!(f, "paging structure: {e}"),
            MapError::Kernel { what, vaddr, err } => write!(f, "{what} at {vaddr:#x}: {err}"),
        }
    }
}
