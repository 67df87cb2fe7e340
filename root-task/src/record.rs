//! The record of every object and cap the root task creates: type, size,
//! physical address, the slot of the original cap in the root CNode, every
//! copy handed to a component (holder, slot, rights, badge or guard), and
//! every mapping (address space, address, size, rights). It is data, kept
//! for the capDL description of the system, and printable as a summary.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use sel4::{CapRights, ObjectType, Word};
use sel4_alloc::{CreatedObject, ObjectSink, PageSize};
use sel4_root_task::println;

/// An object, named by the root-CNode slot of its original cap.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRec {
    pub slot: Word,
    pub ty: ObjectType,
    pub size_bits: u8,
    pub paddr: Word,
}

/// A cap held by a component.
#[derive(Debug, Clone, Copy)]
pub struct CapRec {
    /// The component whose CSpace holds it (`"pers"`, ...).
    pub holder: &'static str,
    pub slot: Word,
    /// Root-CNode slot of the object's original cap.
    pub object: Word,
    pub rights: CapRights,
    /// Badge, guard or port range, as minted (0 when copied).
    pub data: Word,
}

/// A frame mapped in a component's address space.
#[derive(Debug, Clone, Copy)]
pub struct MappingRec {
    pub vspace: &'static str,
    /// Slot (in the root CNode) of the cap used to map.
    pub frame: Word,
    pub vaddr: Word,
    pub page_bits: u8,
    pub rights: CapRights,
}

/// A thread the root task configured.
#[derive(Debug, Clone, Copy)]
pub struct TcbRec {
    pub tcb: Word,
    pub cnode: Word,
    pub guard_bits: u8,
    pub pml4: Word,
    pub ipc_frame: Word,
    pub ipc_vaddr: Word,
    /// Initial instruction pointer (0: set later by the personality).
    pub ip: Word,
    pub prio: u8,
    pub max_prio: u8,
    pub node: u32,
}

#[derive(Default)]
pub struct Record {
    /// Paging structures as mapped: (PML4 slot, table slot, vaddr).
    pub tables: Vec<(Word, Word, Word)>,
    pub tcbs: Vec<TcbRec>,
    pub objects: Vec<ObjectRec>,
    pub caps: Vec<CapRec>,
    pub mappings: Vec<MappingRec>,
    /// Names given to objects (by original slot), e.g. `pers_tcb`.
    pub names: BTreeMap<Word, &'static str>,
}

impl ObjectSink for Record {
    fn created(&mut self, o: &CreatedObject) {
        self.objects.push(ObjectRec {
            slot: o.slot,
            ty: o.ty,
            size_bits: o.size_bits,
            paddr: o.paddr,
        });
    }
    fn table_mapped(&mut self, pml4: Word, table: Word, vaddr: Word) {
        self.tables.push((pml4, table, vaddr));
    }
}

impl Record {
    pub fn object(&mut self, slot: Word, ty: ObjectType, size_bits: u8, paddr: Word) {
        self.objects.push(ObjectRec {
            slot,
            ty,
            size_bits,
            paddr,
        });
    }

    pub fn name(&mut self, slot: Word, name: &'static str) {
        self.names.insert(slot, name);
    }

    pub fn cap(
        &mut self,
        holder: &'static str,
        slot: Word,
        object: Word,
        rights: CapRights,
        data: Word,
    ) {
        self.caps.push(CapRec {
            holder,
            slot,
            object,
            rights,
            data,
        });
    }

    pub fn mapping(
        &mut self,
        vspace: &'static str,
        frame: Word,
        vaddr: Word,
        size: PageSize,
        rights: CapRights,
    ) {
        self.mappings.push(MappingRec {
            vspace,
            frame,
            vaddr,
            page_bits: size.bits(),
            rights,
        });
    }

    /// Prints every object, cap and mapping, merging runs (consecutive
    /// slots of one type at consecutive addresses print as one line), so
    /// a 2 GiB pool of 2 MiB frames takes a line, not a thousand.
    pub fn print_listing(&self) {
        let name = |slot: Word| self.names.get(&slot).copied().unwrap_or("");
        let mut i = 0;
        while i < self.objects.len() {
            let o = self.objects[i];
            let mut n = 1;
            while let Some(next) = self.objects.get(i + n) {
                let step = 1u64 << o.size_bits;
                if next.ty != o.ty
                    || next.size_bits != o.size_bits
                    || next.slot != o.slot + n as Word
                    || next.paddr != o.paddr + n as Word * step
                    || name(next.slot) != name(o.slot)
                {
                    break;
                }
                n += 1;
            }
            println!(
                "record: object slot {:>5}{} {:<28} 2^{:<2} paddr {:#x} {}",
                o.slot,
                if n > 1 {
                    alloc::format!("..+{n:<4}")
                } else {
                    alloc::string::String::from("       ")
                },
                o.ty.c_name(),
                o.size_bits,
                o.paddr,
                name(o.slot)
            );
            i += n;
        }
        let mut i = 0;
        while i < self.caps.len() {
            let c = self.caps[i];
            let mut n = 1;
            while let Some(next) = self.caps.get(i + n) {
                if next.holder != c.holder
                    || next.slot != c.slot + n as Word
                    || next.object != c.object + n as Word
                    || next.rights != c.rights
                    || next.data != c.data
                {
                    break;
                }
                n += 1;
            }
            println!(
                "record: cap {}[{}{}] -> object slot {} rights {}{}{} data {:#x}",
                c.holder,
                c.slot,
                if n > 1 {
                    alloc::format!("..+{n}")
                } else {
                    alloc::string::String::new()
                },
                c.object,
                if c.rights.read() { "R" } else { "" },
                if c.rights.write() { "W" } else { "" },
                if c.rights.grant() { "G" } else { "" },
                c.data
            );
            i += n;
        }
        let mut i = 0;
        while i < self.mappings.len() {
            let m = self.mappings[i];
            let mut n = 1;
            while let Some(next) = self.mappings.get(i + n) {
                if next.vspace != m.vspace
                    || next.page_bits != m.page_bits
                    || next.vaddr != m.vaddr + ((n as Word) << m.page_bits)
                    || next.rights != m.rights
                {
                    break;
                }
                n += 1;
            }
            println!(
                "record: map {} {:#x}..{:#x} ({} x 2^{} frames from slot {}) {}",
                m.vspace,
                m.vaddr,
                m.vaddr + ((n as Word) << m.page_bits),
                n,
                m.page_bits,
                m.frame,
                if m.rights.write() { "RW" } else { "R" }
            );
            i += n;
        }
    }

    /// Prints counts and bytes per object type, caps per holder and
    /// mappings per address space.
    pub fn print_summary(&self) {
        let mut by_type: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
        for o in &self.objects {
            let e = by_type.entry(o.ty.c_name()).or_default();
            e.0 += 1;
            e.1 += 1u64 << o.size_bits;
        }
        println!(
            "record: {} objects, {} caps handed out, {} mappings",
            self.objects.len(),
            self.caps.len(),
            self.mappings.len()
        );
        for (ty, (n, bytes)) in by_type {
            println!("record:   {ty:<30} {n:>6} objects {:>10} KiB", bytes >> 10);
        }
        let mut holders: BTreeMap<&'static str, u64> = BTreeMap::new();
        for c in &self.caps {
            *holders.entry(c.holder).or_default() += 1;
        }
        let mut spaces: BTreeMap<&'static str, u64> = BTreeMap::new();
        for m in &self.mappings {
            *spaces.entry(m.vspace).or_default() += 1;
        }
        for (h, n) in holders {
            println!("record:   cspace {h}: {n} caps");
        }
        for (v, n) in spaces {
            println!("record:   vspace {v}: {n} mappings");
        }
    }
}
