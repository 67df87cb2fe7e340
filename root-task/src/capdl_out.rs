//! The capDL description of the personality component, built from the
//! record and printed between `CAPDL-BEGIN` and `CAPDL-END` on every boot:
//! its CNode and every cap in it, its threads (CSpace, VSpace, IPC buffer,
//! priority, core), its VSpace as the root task built it (image, IPC
//! buffers, handoff record and the paging structures), and the pool, reserve
//! and shared-buffer objects it was given. `cargo xtask capdl verify` parses
//! it and checks the design rules. Trailing `-- paddr <name> <addr>`
//! comments give every object's physical address, for `cargo xtask capdl
//! witness` (the kernel's own view, on a debug kernel).
//!
//! Names follow the `capdl` crate's role convention: `pers_*` for the
//! personality, `handler_<core>` for fault handlers, `pool_*` for pool
//! frames, `ivshmem_*` for the shared buffer.

use crate::record::{ObjectRec, Record};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use capdl::{Arch, Cap, FrameSize, ObjectKind, Rights, Spec, TcbAttrs};
use sel4::{init_caps, CapRights, ObjectType, Word};
use sel4_root_task::println;

/// Why the spec could not be built (a bug in the record, not in the system).
#[derive(Debug)]
pub struct CapdlError(pub String);

impl core::fmt::Display for CapdlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "capDL spec: {}", self.0)
    }
}

fn err(e: impl core::fmt::Display) -> CapdlError {
    CapdlError(format!("{e}"))
}

fn rights(r: CapRights) -> Rights {
    let mut out = Rights::NONE;
    if r.read() {
        out = out | Rights::R;
    }
    if r.write() {
        out = out | Rights::W;
    }
    if r.grant() {
        out = out | Rights::G;
    }
    out
}

struct Builder<'r> {
    rec: &'r Record,
    spec: Spec,
    by_slot: BTreeMap<Word, ObjectRec>,
    names: BTreeMap<Word, String>,
}

impl Builder<'_> {
    /// The object at root-CNode slot `slot`, added to the spec on first use.
    fn object(&mut self, slot: Word) -> Result<String, CapdlError> {
        if let Some(n) = self.names.get(&slot) {
            return Ok(n.clone());
        }
        let o = *self
            .by_slot
            .get(&slot)
            .ok_or_else(|| CapdlError(format!("no object at slot {slot}")))?;
        let label = self.rec.names.get(&slot).copied().unwrap_or("");
        let (kind, prefix) = match o.ty {
            ObjectType::CNode => (
                ObjectKind::CNode {
                    size_bits: o.size_bits - sel4::sizes::SLOT_BITS as u8,
                },
                "cnode",
            ),
            ObjectType::Tcb => (ObjectKind::Tcb(TcbAttrs::default()), "tcb"),
            ObjectType::Endpoint => (ObjectKind::Endpoint, "ep"),
            ObjectType::Notification => (ObjectKind::Notification, "ntfn"),
            ObjectType::Pml4 => (ObjectKind::Pml4, "pml4"),
            ObjectType::Pdpt => (ObjectKind::Pdpt, "pdpt"),
            ObjectType::PageDirectory => (ObjectKind::Pd, "pd"),
            ObjectType::PageTable => (ObjectKind::Pt, "pt"),
            ObjectType::Untyped => (
                ObjectKind::Untyped {
                    size_bits: Some(o.size_bits),
                    paddr: Some(o.paddr),
                },
                "ut",
            ),
            _ => {
                let size = match o.size_bits {
                    12 => FrameSize::Small,
                    21 => FrameSize::Large,
                    _ => FrameSize::Huge,
                };
                // Pool and device frames are pinned to their address.
                let paddr = (label == "pool" || label == "ivshmem" || size != FrameSize::Small)
                    .then_some(o.paddr);
                (ObjectKind::Frame { size, paddr }, "frame")
            }
        };
        let name = match label {
            "" => format!("pers_{prefix}_{slot}"),
            "pool" | "ivshmem" => format!("{label}_{slot}"),
            l => String::from(l),
        };
        self.spec.add_object(&name, kind).map_err(err)?;
        self.names.insert(slot, name.clone());
        Ok(name)
    }
}

/// Builds the spec from the record, with the physical address of every
/// object the record knows one for (by name).
pub fn build(rec: &Record) -> Result<(Spec, BTreeMap<String, Word>), CapdlError> {
    let mut b = Builder {
        rec,
        spec: Spec::new(Arch::X86_64),
        by_slot: rec.objects.iter().map(|o| (o.slot, *o)).collect(),
        names: BTreeMap::new(),
    };
    b.spec
        .add_object("asid_pool", ObjectKind::AsidPool)
        .map_err(err)?;
    b.names
        .insert(init_caps::ASID_POOL.bits(), "asid_pool".into());

    // Threads first (their attributes), then every cap of the CNode.
    for t in &rec.tcbs {
        let name = b.object(t.tcb)?;
        let cnode = b.object(t.cnode)?;
        let pml4 = b.object(t.pml4)?;
        let ipc = b.object(t.ipc_frame)?;
        if let Some(a) = b.spec.tcb_attrs_mut(&name) {
            *a = TcbAttrs {
                ipc_buffer_addr: Some(t.ipc_vaddr),
                ip: (t.ip != 0).then_some(t.ip),
                prio: Some(t.prio),
                max_prio: Some(t.max_prio),
                affinity: Some(t.node),
                ..TcbAttrs::default()
            };
        }
        let s = &mut b.spec;
        s.insert_cap(
            &name,
            capdl::tcb_slot::CSPACE,
            Cap::new(cnode).with_guard(0, t.guard_bits),
        )
        .map_err(err)?;
        s.insert_cap(&name, capdl::tcb_slot::VSPACE, Cap::new(pml4))
            .map_err(err)?;
        s.insert_cap(
            &name,
            capdl::tcb_slot::IPC_BUFFER,
            Cap::new(ipc).with_rights(Rights::RW),
        )
        .map_err(err)?;
    }
    for c in &rec.caps {
        let cnode = b.object(
            rec.tcbs
                .first()
                .map(|t| t.cnode)
                .ok_or_else(|| CapdlError("no personality thread".into()))?,
        )?;
        let cap = if c.object == init_caps::IO_PORT.bits() {
            let (first, last) = ((c.data >> 16) as u16, c.data as u16);
            let name = format!("ioports_{first:x}_{last:x}");
            b.spec
                .add_object(&name, ObjectKind::IoPorts { first, last })
                .map_err(err)?;
            Cap::new(name)
        } else {
            let target = b.object(c.object)?;
            let mut cap = Cap::new(target.clone());
            match b.spec.kind(&target) {
                Some(ObjectKind::CNode { .. }) if c.data != 0 => {
                    cap = cap.with_guard(c.data >> 8, ((c.data >> 2) & 0x3f) as u8);
                }
                Some(ObjectKind::Endpoint | ObjectKind::Notification) => {
                    cap = cap.with_rights(rights(c.rights));
                    if c.data != 0 {
                        cap = cap.with_badge(c.data);
                    }
                }
                Some(ObjectKind::Frame { .. }) => cap = cap.with_rights(rights(c.rights)),
                _ => {}
            }
            cap
        };
        b.spec.insert_cap(&cnode, c.slot, cap).map_err(err)?;
    }

    // The VSpace: tables from the top level down, then frames.
    let level = |ty: ObjectType| match ty {
        ObjectType::Pdpt => 0,
        ObjectType::PageDirectory => 1,
        _ => 2,
    };
    let pers_pml4 = rec.tcbs.first().map(|t| t.pml4).unwrap_or(0);
    let mut tables: alloc::vec::Vec<_> = rec
        .tables
        .iter()
        .filter(|t| t.0 == pers_pml4)
        .copied()
        .collect();
    tables.sort_by_key(|(_, t, v)| (b.by_slot.get(t).map(|o| level(o.ty)).unwrap_or(3), *v));
    let pml4 = b.object(pers_pml4)?;
    for (_, table, vaddr) in tables {
        // The kernel takes any address inside the region a table covers;
        // capDL names the region by its start.
        let covers = match b.by_slot.get(&table).map(|o| level(o.ty)) {
            Some(0) => 1u64 << 39,
            Some(1) => 1 << 30,
            _ => 1 << 21,
        };
        let t = b.object(table)?;
        b.spec
            .map(&pml4, vaddr & !(covers - 1), &t, Rights::NONE)
            .map_err(err)?;
    }
    for m in rec.mappings.iter().filter(|m| m.vspace == "pers") {
        let f = b.object(m.frame)?;
        b.spec
            .map(&pml4, m.vaddr, &f, rights(m.rights))
            .map_err(err)?;
    }
    let addrs = b
        .names
        .iter()
        .filter_map(|(slot, name)| Some((name.clone(), b.by_slot.get(slot)?.paddr)))
        .collect();
    Ok((b.spec, addrs))
}

/// Prints the spec between markers.
pub fn print(rec: &Record) -> Result<(), CapdlError> {
    let (spec, addrs) = build(rec)?;
    let text = capdl::print(&spec);
    println!("CAPDL-BEGIN objects={}", spec.objects().len());
    for line in text.lines() {
        println!("{line}");
    }
    // capDL has no physical address for most objects; as comments (which
    // capDL-tool and our parser skip) they let `cargo xtask capdl witness`
    // match the spec's objects with the kernel's, which it finds by address.
    println!("-- paddr: the physical address of each object, for the kernel-dump comparison");
    for (name, paddr) in &addrs {
        println!("-- paddr {name} {paddr:#x}");
    }
    println!("CAPDL-END");
    Ok(())
}
