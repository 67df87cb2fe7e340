//! Virtual address spaces as capDL spells them: a PML4 object whose slots
//! hold PDPT caps, PDPTs holding PD caps or 1 GiB frames, PDs holding PT caps
//! or 2 MiB frames, PTs holding 4 KiB frames. The slot index at each level is
//! the matching 9-bit field of the virtual address.
//!
//! This module derives (VSpace, vaddr) → frame from that tree, and builds the
//! tree from (VSpace, vaddr) requests, so neither the root task nor the rule
//! checker has to do index arithmetic by hand.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::model::{Cap, FrameMapping, FrameSize, ObjectKind, Rights};
use crate::spec::{ModelError, Spec};

/// A paging level, from the root down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Entries cover 512 GiB.
    Pml4,
    /// Entries cover 1 GiB.
    Pdpt,
    /// Entries cover 2 MiB.
    Pd,
    /// Entries cover 4 KiB.
    Pt,
}

impl Level {
    /// Bit position of this level's index field in a virtual address.
    pub fn shift(self) -> u32 {
        match self {
            Level::Pml4 => 39,
            Level::Pdpt => 30,
            Level::Pd => 21,
            Level::Pt => 12,
        }
    }

    /// The entry index `vaddr` selects at this level.
    pub fn index(self, vaddr: u64) -> u64 {
        (vaddr >> self.shift()) & 0x1ff
    }

    /// The level of a paging-structure object.
    pub fn of(kind: &ObjectKind) -> Option<Level> {
        match kind {
            ObjectKind::Pml4 => Some(Level::Pml4),
            ObjectKind::Pdpt => Some(Level::Pdpt),
            ObjectKind::Pd => Some(Level::Pd),
            ObjectKind::Pt => Some(Level::Pt),
            _ => None,
        }
    }

    fn below(self) -> Option<Level> {
        match self {
            Level::Pml4 => Some(Level::Pdpt),
            Level::Pdpt => Some(Level::Pd),
            Level::Pd => Some(Level::Pt),
            Level::Pt => None,
        }
    }
}

/// The first address above user space: seL4 lets user space map only the
/// lower half of the canonical address range.
pub const USER_TOP: u64 = 1 << 47;

/// A frame mapped in a VSpace, derived from the page-table tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping<'a> {
    /// The PML4 at the root of the VSpace.
    pub vspace: &'a str,
    /// Virtual address of the first byte of the frame.
    pub vaddr: u64,
    /// The frame.
    pub frame: &'a str,
    /// Its size.
    pub size: FrameSize,
    /// Rights of the mapping (the frame cap in the table).
    pub rights: Rights,
    /// The table whose entry maps it.
    pub table: &'a str,
    /// The entry index.
    pub slot: u64,
}

impl Mapping<'_> {
    /// capDL-tool's name for this mapping, to record on the frame cap held
    /// in a CNode ([`Cap::with_mapping`] takes the same two values).
    pub fn frame_mapping(&self) -> FrameMapping {
        FrameMapping {
            table: self.table.into(),
            slot: self.slot,
        }
    }
}

/// Why [`Spec::map`] refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The named VSpace is not a PML4 object.
    NotAVSpace(String),
    /// Only frames and PDPT/PD/PT objects can be mapped.
    NotMappable(String),
    /// The address is not aligned to what the object covers.
    Misaligned {
        /// The address asked for.
        vaddr: u64,
        /// The alignment the object needs.
        align: u64,
    },
    /// The address is not below [`USER_TOP`].
    NotUserAddress(u64),
    /// The entry that should hold the next table down is empty.
    MissingTable {
        /// The table with the empty entry.
        table: String,
        /// The entry.
        slot: u64,
    },
    /// The entry that should hold the next table down holds a frame.
    Blocked {
        /// The table.
        table: String,
        /// The entry.
        slot: u64,
        /// The frame already there.
        by: String,
    },
    /// The final insertion failed (slot taken, wrong parameters...).
    Model(ModelError),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::NotAVSpace(n) => write!(f, "`{n}` is not a pml4"),
            MapError::NotMappable(n) => {
                write!(f, "`{n}` is neither a frame nor a paging structure")
            }
            MapError::Misaligned { vaddr, align } => {
                write!(f, "address {vaddr:#x} is not aligned to {align:#x}")
            }
            MapError::NotUserAddress(v) => write!(f, "address {v:#x} is not a user address"),
            MapError::MissingTable { table, slot } => {
                write!(f, "entry {slot} of `{table}` has no table below it")
            }
            MapError::Blocked { table, slot, by } => {
                write!(f, "entry {slot} of `{table}` already maps frame `{by}`")
            }
            MapError::Model(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for MapError {}

impl From<ModelError> for MapError {
    fn from(e: ModelError) -> Self {
        MapError::Model(e)
    }
}

impl Spec {
    /// Every frame mapped in the VSpace rooted at `pml4`, by address.
    /// Empty if `pml4` is not a PML4.
    pub fn mappings_in<'a>(&'a self, pml4: &'a str) -> Vec<Mapping<'a>> {
        let mut out = Vec::new();
        if matches!(self.kind(pml4), Some(ObjectKind::Pml4)) {
            self.walk(pml4, pml4, Level::Pml4, 0, &mut out);
        }
        out
    }

    /// Every mapping in every VSpace (every PML4 object), VSpaces in
    /// declaration order.
    pub fn all_mappings(&self) -> Vec<Mapping<'_>> {
        self.objects()
            .iter()
            .filter(|o| o.kind == ObjectKind::Pml4)
            .flat_map(|o| self.mappings_in(&o.name))
            .collect()
    }

    /// The mapping that covers `vaddr` in VSpace `pml4`.
    pub fn translate<'a>(&'a self, pml4: &'a str, vaddr: u64) -> Option<Mapping<'a>> {
        self.mappings_in(pml4)
            .into_iter()
            .find(|m| vaddr >= m.vaddr && vaddr - m.vaddr < m.size.bytes())
    }

    /// Where a paging structure sits: its VSpace and the first address it
    /// covers. `None` if it is not reachable from any PML4 (a PML4 is its
    /// own position, at address 0).
    pub fn table_position<'a>(&'a self, table: &str) -> Option<(&'a str, u64)> {
        for root in self.objects().iter().filter(|o| o.kind == ObjectKind::Pml4) {
            if root.name == table {
                return Some((&root.name, 0));
            }
            if let Some(base) = self.find_table(&root.name, Level::Pml4, 0, table) {
                return Some((&root.name, base));
            }
        }
        None
    }

    /// Turns capDL-tool's `mapping: (table, slot)` of a frame cap into the
    /// VSpace and virtual address it denotes.
    pub fn frame_mapping_vaddr<'a>(&'a self, mapping: &FrameMapping) -> Option<(&'a str, u64)> {
        let level = Level::of(self.kind(&mapping.table)?)?;
        let (vspace, base) = self.table_position(&mapping.table)?;
        Some((vspace, canonical(base | (mapping.slot << level.shift()))))
    }

    /// Maps `object` (a frame, or a PDPT/PD/PT) at `vaddr` in the VSpace
    /// rooted at `pml4`, by putting a cap to it into the right entry. The
    /// tables above that entry must be mapped already; `rights` apply to
    /// frames only.
    pub fn map(
        &mut self,
        pml4: &str,
        vaddr: u64,
        object: &str,
        rights: Rights,
    ) -> Result<(), MapError> {
        if !matches!(self.kind(pml4), Some(ObjectKind::Pml4)) {
            return Err(MapError::NotAVSpace(pml4.into()));
        }
        let kind = self
            .kind(object)
            .ok_or_else(|| MapError::Model(ModelError::UnknownObject(object.into())))?;
        // The level whose entry will hold the cap.
        let (level, cap) = match kind {
            ObjectKind::Pdpt => (Level::Pml4, Cap::new(object)),
            ObjectKind::Pd => (Level::Pdpt, Cap::new(object)),
            ObjectKind::Pt => (Level::Pd, Cap::new(object)),
            ObjectKind::Frame { size, .. } => {
                let level = match size {
                    FrameSize::Huge => Level::Pdpt,
                    FrameSize::Large => Level::Pd,
                    FrameSize::Small => Level::Pt,
                };
                (level, Cap::new(object).with_rights(rights))
            }
            _ => return Err(MapError::NotMappable(object.into())),
        };
        if vaddr >= USER_TOP {
            return Err(MapError::NotUserAddress(vaddr));
        }
        let align = 1u64 << level.shift();
        if !vaddr.is_multiple_of(align) {
            return Err(MapError::Misaligned { vaddr, align });
        }
        let mut table = String::from(pml4);
        let mut at = Level::Pml4;
        while at != level {
            let slot = at.index(vaddr);
            let next = match self.cap(&table, slot) {
                None => return Err(MapError::MissingTable { table, slot }),
                Some(c) if self.kind(&c.target).and_then(Level::of).is_none() => {
                    let by = c.target.clone();
                    return Err(MapError::Blocked { table, slot, by });
                }
                Some(c) => c.target.clone(),
            };
            table = next;
            at = at.below().expect("the loop stops before the last level");
        }
        self.insert_cap(&table, level.index(vaddr), cap)?;
        Ok(())
    }

    fn walk<'a>(
        &'a self,
        vspace: &'a str,
        table: &'a str,
        level: Level,
        base: u64,
        out: &mut Vec<Mapping<'a>>,
    ) {
        let Some(object) = self.object(table) else {
            return;
        };
        for (&slot, cap) in &object.slots {
            let vaddr = base | (slot << level.shift());
            match self.kind(&cap.target) {
                Some(ObjectKind::Frame { size, .. }) => out.push(Mapping {
                    vspace,
                    vaddr: canonical(vaddr),
                    frame: &cap.target,
                    size: *size,
                    rights: cap.rights,
                    table,
                    slot,
                }),
                Some(kind) => {
                    if let (Some(below), Some(next)) = (level.below(), Level::of(kind)) {
                        if next == below {
                            self.walk(vspace, &cap.target, below, vaddr, out);
                        }
                    }
                }
                None => {}
            }
        }
    }

    fn find_table(&self, table: &str, level: Level, base: u64, wanted: &str) -> Option<u64> {
        let below = level.below()?;
        for (&slot, cap) in &self.object(table)?.slots {
            if self.kind(&cap.target).and_then(Level::of) != Some(below) {
                continue;
            }
            let vaddr = base | (slot << level.shift());
            if cap.target == wanted {
                return Some(vaddr);
            }
            if let Some(found) = self.find_table(&cap.target, below, vaddr, wanted) {
                return Some(found);
            }
        }
        None
    }
}

/// Sign-extends bit 47, as the MMU does (only kernel-half entries, which
/// seL4 never lets user space map, are affected).
fn canonical(vaddr: u64) -> u64 {
    if vaddr & USER_TOP != 0 {
        vaddr | 0xffff_0000_0000_0000
    } else {
        vaddr
    }
}
