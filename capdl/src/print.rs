//! The capDL text printer. Needs only `core::fmt` and `alloc`, so the root
//! task can print the spec of what it built straight onto the console.
//!
//! The output is canonical: objects in declaration order, one `caps` block
//! per object that holds caps (slots ascending, TCB slots by their symbolic
//! names), then `irq maps`. Parameters a cap or object does not use are left
//! out, so printing is the inverse of [`crate::parse()`] and
//! `print(parse(print(s))) == print(s)`.

use alloc::string::String;
use core::fmt::{self, Write};

use crate::model::{Cap, FrameSize, Object, ObjectKind};
use crate::spec::{tcb_slot, Spec};

/// Prints `spec` as capDL text (the same as `spec.to_string()`).
pub fn print(spec: &Spec) -> String {
    let mut out = String::new();
    write!(out, "{spec}").expect("writing to a String cannot fail");
    out
}

/// Writes a parenthesised, comma-separated parameter list, or nothing when
/// there are no parameters (capDL does not allow `()`).
struct Params<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    count: usize,
}

impl<'a, 'b> Params<'a, 'b> {
    fn new(f: &'a mut fmt::Formatter<'b>) -> Self {
        Params { f, count: 0 }
    }

    fn add(&mut self, param: fmt::Arguments<'_>) -> fmt::Result {
        self.f
            .write_str(if self.count == 0 { " (" } else { ", " })?;
        self.count += 1;
        self.f.write_fmt(param)
    }

    fn finish(self) -> fmt::Result {
        if self.count > 0 {
            self.f.write_str(")")?;
        }
        Ok(())
    }
}

/// An object declaration's right-hand side: `tcb (prio: 254, ...)`.
struct Decl<'a>(&'a ObjectKind);

impl fmt::Display for Decl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.object_type().keyword())?;
        let mut p = Params::new(f);
        match self.0 {
            ObjectKind::Tcb(t) => {
                if let Some(v) = t.ipc_buffer_addr {
                    p.add(format_args!("addr: {v:#x}"))?;
                }
                if let Some(v) = t.ip {
                    p.add(format_args!("ip: {v:#x}"))?;
                }
                if let Some(v) = t.sp {
                    p.add(format_args!("sp: {v:#x}"))?;
                }
                if let Some(v) = t.prio {
                    p.add(format_args!("prio: {v}"))?;
                }
                if let Some(v) = t.max_prio {
                    p.add(format_args!("max_prio: {v}"))?;
                }
                if let Some(v) = t.affinity {
                    p.add(format_args!("affinity: {v}"))?;
                }
                if let Some(v) = t.domain {
                    p.add(format_args!("dom: {v}"))?;
                }
                if let Some(v) = t.fault_ep {
                    p.add(format_args!("fault_ep: {v:#x}"))?;
                }
            }
            ObjectKind::CNode { size_bits } => p.add(format_args!("{size_bits} bits"))?,
            ObjectKind::Frame { size, paddr } => {
                // capDL-tool knows only the `k` and `M` units: 1 GiB is 1024M.
                p.add(format_args!(
                    "{}",
                    match size {
                        FrameSize::Small => "4k",
                        FrameSize::Large => "2M",
                        FrameSize::Huge => "1024M",
                    }
                ))?;
                if let Some(a) = paddr {
                    p.add(format_args!("paddr: {a:#x}"))?;
                }
            }
            ObjectKind::Untyped { size_bits, paddr } => {
                if let Some(b) = size_bits {
                    p.add(format_args!("{b} bits"))?;
                }
                if let Some(a) = paddr {
                    p.add(format_args!("paddr: {a:#x}"))?;
                }
            }
            ObjectKind::IoPorts { first, last } => {
                p.add(format_args!("ports: [{first:#x}..{last:#x}]"))?
            }
            ObjectKind::Endpoint
            | ObjectKind::Notification
            | ObjectKind::Pml4
            | ObjectKind::Pdpt
            | ObjectKind::Pd
            | ObjectKind::Pt
            | ObjectKind::Irq
            | ObjectKind::AsidPool => {}
        }
        p.finish()
    }
}

impl fmt::Display for Cap {
    /// A cap as it appears after `slot:` — `target (RW, badge: 3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.target)?;
        let mut p = Params::new(f);
        if !self.rights.is_empty() {
            p.add(format_args!("{}", self.rights))?;
        }
        if self.badge != 0 {
            p.add(format_args!("badge: {}", self.badge))?;
        }
        if self.guard != 0 || self.guard_size != 0 {
            p.add(format_args!("guard: {}", self.guard))?;
            p.add(format_args!("guard_size: {}", self.guard_size))?;
        }
        if let Some(a) = self.asid {
            p.add(format_args!("asid: ({}, {})", a.high, a.low))?;
        }
        if !self.cached {
            p.add(format_args!("uncached"))?;
        }
        if let Some(m) = &self.mapping {
            p.add(format_args!("mapping: ({}, {})", m.table, m.slot))?;
        }
        p.finish()
    }
}

/// The label of a slot: TCB slots by their symbolic names where the text
/// format has one, every other slot by number.
fn slot_label(object: &Object, slot: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if matches!(object.kind, ObjectKind::Tcb(_)) {
        if let Some((name, _)) = tcb_slot::NAMES.iter().find(|(_, n)| *n == slot) {
            return f.write_str(name);
        }
    }
    write!(f, "{slot}")
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "arch {}", self.arch.keyword())?;
        writeln!(f)?;
        writeln!(f, "objects {{")?;
        for object in self.objects() {
            writeln!(f, "    {} = {}", object.name, Decl(&object.kind))?;
        }
        writeln!(f, "}}")?;
        if self.objects().iter().any(|o| !o.slots.is_empty()) {
            writeln!(f)?;
            writeln!(f, "caps {{")?;
            for object in self.objects().iter().filter(|o| !o.slots.is_empty()) {
                writeln!(f, "    {} {{", object.name)?;
                for (&slot, cap) in &object.slots {
                    f.write_str("        ")?;
                    slot_label(object, slot, f)?;
                    writeln!(f, ": {cap}")?;
                }
                writeln!(f, "    }}")?;
            }
            writeln!(f, "}}")?;
        }
        if !self.irq_map().is_empty() {
            writeln!(f)?;
            writeln!(f, "irq maps {{")?;
            for (irq, object) in self.irq_map() {
                writeln!(f, "    {irq}: {object}")?;
            }
            writeln!(f, "}}")?;
        }
        Ok(())
    }
}
