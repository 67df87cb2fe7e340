//! The independent witness: the kernel's own view of the system, compared
//! with the spec the root task printed.
//!
//! On a debug kernel, with the fw_cfg file `opt/lwk/capdl-snapshot`
//! present, the root task prints its spec and then calls
//! `seL4_DebugSnapshot`. seL4 5.0 then runs its capDL query protocol on the
//! debug serial port, COM1 (`src/arch/x86/machine/capdl.c`): a request is
//! START (0xff), a command byte and 8-byte big-endian arguments; an answer
//! is little-endian words, then END (0xbb). Bytes 0xff, 0xaa, 0xbb and
//! those below 20 travel escaped (ESCAPE 0xaa, then 0xa0, 0xa1, 0xa2 or the
//! byte + 20). COM1 is a Unix socket of QEMU's, read and written here.
//!
//! The walk: the run queue of the node that made the call (its first word
//! is the current thread, the root task) → each TCB's slots (a TCB's CTEs
//! are the first 2^4 slots of its 2 KiB object, read as a CNode) → the
//! CSpaces → every cap found: CNodes are read, TCBs followed, endpoint
//! queues followed (blocked threads sit in no run queue), and every PML4
//! walked down its PDPTs, PDs and PTs (the PD command reads any 512-entry
//! table). Raw caps and entries are decoded with the kernel's own bitfield
//! definitions ([`super::bitfield`]). The result becomes a `capdl::Spec`
//! whose objects are named by type and physical address, and is compared
//! with the root task's spec, whose objects are matched by the physical
//! addresses the root task printed as `-- paddr` comments.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use capdl::{Cap, FrameSize, ObjectKind, Rights, Spec};

use super::bitfield::Bitfields;
use crate::layout::Variant;
use crate::proc::step;
use crate::qemu::Machine;

const START: u8 = 0xff;
const END: u8 = 0xbb;
const ESCAPE: u8 = 0xaa;
const PD_COMMAND: u8 = 0xf0;
const RQ_COMMAND: u8 = 0xf1;
const EP_COMMAND: u8 = 0xf2;
const CN_COMMAND: u8 = 0xf3;
const PT_COMMAND: u8 = 0xf5;
const VERSION_COMMAND: u8 = 0xf9;
const DONE: u8 = 0xfa;
/// What `VERSION` answers on x86 with capDL protocol version 0.
const VERSION: [u64; 2] = [0xe1, 0];

/// The kernel's window on physical memory (`PPTR_BASE` of pc99 x86_64).
const PPTR_BASE: u64 = 0xffff_ff80_0000_0000;
/// `seL4_TCBBits`: a TCB object is 2 KiB; its CTEs come first.
const TCB_BITS: u32 = 11;
/// `TCB_CNODE_RADIX`.
const TCB_CNODE_RADIX: u64 = 4;
/// The fw_cfg file that asks the root task for the snapshot.
pub const REQUEST: &str = "opt/lwk/capdl-snapshot";
/// What the kernel prints when the snapshot starts.
const ENTERED: &str = "Debug snapshot syscall from user thread";

/// A physical address from a kernel pointer.
fn paddr(pptr: u64) -> u64 {
    pptr.wrapping_sub(PPTR_BASE)
}

/// The host end of the protocol.
struct Dump {
    stream: UnixStream,
    /// Bytes read, for the log.
    log: Vec<u8>,
}

impl Dump {
    fn encode(out: &mut Vec<u8>, byte: u8) {
        match byte {
            ESCAPE => out.extend([ESCAPE, 0xa1]),
            START => out.extend([ESCAPE, 0xa0]),
            END => out.extend([ESCAPE, 0xa2]),
            b if b < 20 => out.extend([ESCAPE, b + 20]),
            b => out.push(b),
        }
    }

    fn byte(&mut self) -> Result<u8> {
        let mut b = [0u8];
        self.stream
            .read_exact(&mut b)
            .context("the kernel stopped answering on the serial line")?;
        Ok(b[0])
    }

    /// Sends one command and returns the words of its answer.
    fn query(&mut self, command: u8, args: &[u64]) -> Result<Vec<u64>> {
        let mut out = vec![START];
        Self::encode(&mut out, command);
        for a in args {
            for b in a.to_be_bytes() {
                Self::encode(&mut out, b);
            }
        }
        self.stream
            .write_all(&out)
            .context("cannot write to COM1")?;
        let mut bytes = Vec::new();
        loop {
            let b = match self.byte()? {
                END => break,
                ESCAPE => match self.byte()? {
                    0xa0 => START,
                    0xa1 => ESCAPE,
                    0xa2 => END,
                    c @ 20..40 => c - 20,
                    c => bail!("bad escape {c:#x} in the kernel's answer"),
                },
                b => b,
            };
            bytes.push(b);
        }
        if bytes.len() % 8 != 0 {
            bail!(
                "answer to command {command:#x} is {} bytes, not whole words",
                bytes.len()
            );
        }
        Ok(bytes
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
}

/// A cap as the kernel holds it, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KCap {
    /// capDL object type keyword, or a special target (`irq_control`...),
    /// or `reply` / `zombie` / the kernel's name for what capDL lacks.
    kind: String,
    /// Physical address of the object (0 for specials).
    target: u64,
    rights: Rights,
    badge: u64,
    guard: u64,
    guard_size: u8,
    /// CNode radix, untyped size bits, frame size bits.
    size_bits: u8,
    ports: Option<(u16, u16)>,
    /// A reply cap's master flag.
    master: bool,
}

impl KCap {
    fn new(kind: &str, target: u64) -> KCap {
        KCap {
            kind: kind.into(),
            target,
            rights: Rights::NONE,
            badge: 0,
            guard: 0,
            guard_size: 0,
            size_bits: 0,
            ports: None,
            master: false,
        }
    }
}

/// Decodes a cap's two words.
fn decode_cap(bf: &Bitfields, words: [u64; 2]) -> Result<KCap> {
    let ty = bf.get("null_cap", "capType", &words)?;
    let name = bf
        .tag_name("cap", ty)
        .with_context(|| format!("unknown cap type {ty}"))?
        .to_string();
    let g = |field: &str| bf.get(&name, field, &words);
    let rights = |r: &str, w: &str, gr: Option<&str>| -> Result<Rights> {
        let mut out = Rights::NONE;
        if g(r)? != 0 {
            out = out | Rights::R;
        }
        if g(w)? != 0 {
            out = out | Rights::W;
        }
        if let Some(gr) = gr {
            if g(gr)? != 0 {
                out = out | Rights::G;
            }
        }
        Ok(out)
    };
    let cap = match name.as_str() {
        "endpoint_cap" => KCap {
            rights: rights("capCanReceive", "capCanSend", Some("capCanGrant"))?,
            badge: g("capEPBadge")?,
            ..KCap::new("ep", paddr(g("capEPPtr")?))
        },
        "notification_cap" => KCap {
            rights: rights("capNtfnCanReceive", "capNtfnCanSend", None)?,
            badge: g("capNtfnBadge")?,
            ..KCap::new("notification", paddr(g("capNtfnPtr")?))
        },
        "cnode_cap" => KCap {
            guard: g("capCNodeGuard")?,
            guard_size: g("capCNodeGuardSize")? as u8,
            size_bits: g("capCNodeRadix")? as u8,
            ..KCap::new("cnode", paddr(g("capCNodePtr")?))
        },
        "thread_cap" => KCap::new("tcb", paddr(g("capTCBPtr")?) & !((1 << TCB_BITS) - 1)),
        "frame_cap" => {
            let size_bits = match g("capFSize")? {
                0 => 12,
                1 => 21,
                _ => 30,
            };
            let rights = match g("capFVMRights")? {
                3 => Rights::RW,
                2 => Rights::R,
                _ => Rights::NONE,
            };
            KCap {
                size_bits,
                rights,
                ..KCap::new("frame", paddr(g("capFBasePtr")?))
            }
        }
        "page_table_cap" => KCap::new("pt", paddr(g("capPTBasePtr")?)),
        "page_directory_cap" => KCap::new("pd", paddr(g("capPDBasePtr")?)),
        "pdpt_cap" => KCap::new("pdpt", paddr(g("capPDPTBasePtr")?)),
        "pml4_cap" => KCap::new("pml4", paddr(g("capPML4BasePtr")?)),
        "untyped_cap" => KCap {
            size_bits: g("capBlockSize")? as u8,
            ..KCap::new("ut", paddr(g("capPtr")?))
        },
        "io_port_cap" => KCap {
            ports: Some((
                g("capIOPortFirstPort")? as u16,
                g("capIOPortLastPort")? as u16,
            )),
            ..KCap::new("io_ports", 0)
        },
        "asid_pool_cap" => KCap::new("asid_pool", paddr(g("capASIDPool")?)),
        "asid_control_cap" => KCap::new("asid_control", 0),
        "irq_control_cap" => KCap::new("irq_control", 0),
        "domain_cap" => KCap::new("domain", 0),
        "io_space_cap" => KCap::new("io_space_master", 0),
        "irq_handler_cap" => KCap::new("irq", g("capIRQ")?),
        "reply_cap" => KCap {
            master: g("capReplyMaster")? != 0,
            ..KCap::new("reply", paddr(g("capTCBPtr")?) & !((1 << TCB_BITS) - 1))
        },
        other => KCap::new(other, 0),
    };
    Ok(cap)
}

/// What the walk found.
#[derive(Default)]
struct KernelView {
    /// TCB object address → its slots.
    tcbs: BTreeMap<u64, BTreeMap<u64, KCap>>,
    /// CNode address → (radix, its non-empty slots).
    cnodes: BTreeMap<u64, (u8, BTreeMap<u64, KCap>)>,
    /// PML4 address → vaddr → (frame address, size, rights).
    vspaces: BTreeMap<u64, BTreeMap<u64, (u64, FrameSize, Rights)>>,
    /// Every object named by some cap: (address, type) → size bits. An
    /// untyped and the first object retyped from it share an address.
    objects: BTreeMap<(u64, String), u8>,
    /// Threads found on the run queue (the first is the current one).
    run_queue: Vec<u64>,
}

/// Walks the system through the protocol.
fn walk(dump: &mut Dump, bf: &Bitfields) -> Result<KernelView> {
    let version = dump.query(VERSION_COMMAND, &[])?;
    if version != VERSION {
        bail!("the kernel answers capDL version {version:x?}, expected {VERSION:x?}");
    }
    let mut view = KernelView {
        run_queue: dump
            .query(RQ_COMMAND, &[])?
            .into_iter()
            .map(|t| paddr(t) & !((1 << TCB_BITS) - 1))
            .collect(),
        ..KernelView::default()
    };
    let mut tcbs: Vec<u64> = view.run_queue.clone();
    let mut cnodes: Vec<(u64, u8)> = Vec::new();
    let mut eps: BTreeSet<u64> = BTreeSet::new();
    let mut pml4s: BTreeSet<u64> = BTreeSet::new();
    let read_cnode = |dump: &mut Dump, addr: u64, radix: u64| -> Result<BTreeMap<u64, KCap>> {
        let words = dump.query(CN_COMMAND, &[addr + PPTR_BASE, radix])?;
        let mut slots = BTreeMap::new();
        for e in words.chunks(4) {
            let [slot, w0, w1, _parent] = e else {
                bail!("a CNode answer is not made of 4-word entries");
            };
            slots.insert(*slot, decode_cap(bf, [*w0, *w1])?);
        }
        Ok(slots)
    };
    loop {
        let mut found: Vec<KCap> = Vec::new();
        if let Some(tcb) = tcbs.pop() {
            if view.tcbs.contains_key(&tcb) {
                continue;
            }
            let slots = read_cnode(dump, tcb, TCB_CNODE_RADIX)?;
            view.objects.insert((tcb, "tcb".into()), TCB_BITS as u8);
            found.extend(slots.values().cloned());
            view.tcbs.insert(tcb, slots);
        } else if let Some((cnode, radix)) = cnodes.pop() {
            if view.cnodes.contains_key(&cnode) {
                continue;
            }
            let slots = read_cnode(dump, cnode, u64::from(radix))?;
            found.extend(slots.values().cloned());
            view.cnodes.insert(cnode, (radix, slots));
        } else {
            break;
        }
        for cap in found {
            if cap.target != 0 && !matches!(cap.kind.as_str(), "irq" | "reply") {
                view.objects
                    .entry((cap.target, cap.kind.clone()))
                    .or_insert(cap.size_bits);
            }
            match cap.kind.as_str() {
                "tcb" => tcbs.push(cap.target),
                "cnode" => cnodes.push((cap.target, cap.size_bits)),
                "pml4" => {
                    pml4s.insert(cap.target);
                }
                "ep" if eps.insert(cap.target) => {
                    // Threads blocked on it are in no run queue.
                    for t in dump.query(EP_COMMAND, &[cap.target + PPTR_BASE])? {
                        tcbs.push(paddr(t) & !((1 << TCB_BITS) - 1));
                    }
                }
                _ => {}
            }
        }
    }
    for pml4 in pml4s {
        let maps = walk_vspace(dump, bf, pml4)?;
        view.vspaces.insert(pml4, maps);
    }
    Ok(view)
}

/// Walks one VSpace: (vaddr → frame address, size, rights).
fn walk_vspace(
    dump: &mut Dump,
    bf: &Bitfields,
    pml4: u64,
) -> Result<BTreeMap<u64, (u64, FrameSize, Rights)>> {
    let mut out = BTreeMap::new();
    let entries = |dump: &mut Dump, cmd: u8, table: u64| -> Result<Vec<(u64, u64)>> {
        let words = dump.query(cmd, &[table + PPTR_BASE])?;
        Ok(words.chunks(2).map(|e| (e[0], e[1])).collect())
    };
    let rights = |block: &str, w: u64| -> Result<Rights> {
        Ok(if bf.get(block, "read_write", &[w])? != 0 {
            Rights::RW
        } else {
            Rights::R
        })
    };
    for (i4, e4) in entries(dump, PD_COMMAND, pml4)? {
        if i4 >= 256 || bf.get("pml4e", "present", &[e4])? == 0 {
            continue; // the upper half is the kernel's
        }
        let pdpt = bf.get("pml4e", "pdpt_base_address", &[e4])?;
        for (i3, e3) in entries(dump, PD_COMMAND, pdpt)? {
            let va3 = (i4 << 39) | (i3 << 30);
            if bf.get("pdpte_pd", "present", &[e3])? == 0 {
                continue;
            }
            if bf.get("pdpte_pd", "page_size", &[e3])? == 1 {
                let frame = bf.get("pdpte_1g", "page_base_address", &[e3])?;
                out.insert(va3, (frame, FrameSize::Huge, rights("pdpte_1g", e3)?));
                continue;
            }
            let pd = bf.get("pdpte_pd", "pd_base_address", &[e3])?;
            for (i2, e2) in entries(dump, PD_COMMAND, pd)? {
                let va2 = va3 | (i2 << 21);
                if bf.get("pde_large", "page_size", &[e2])? == 1 {
                    let frame = bf.get("pde_large", "page_base_address", &[e2])?;
                    out.insert(va2, (frame, FrameSize::Large, rights("pde_large", e2)?));
                    continue;
                }
                let pt = bf.get("pde_small", "pt_base_address", &[e2])?;
                for (i1, e1) in entries(dump, PT_COMMAND, pt)? {
                    let frame = bf.get("pte", "page_base_address", &[e1])?;
                    out.insert(
                        va2 | (i1 << 12),
                        (frame, FrameSize::Small, rights("pte", e1)?),
                    );
                }
            }
        }
    }
    Ok(out)
}

/// The kernel's view as a capDL spec, objects named `<type>_<paddr>`.
fn to_spec(view: &KernelView) -> Spec {
    let mut spec = Spec::new(capdl::Arch::X86_64);
    let name = |kind: &str, addr: u64| format!("{kind}_{addr:x}");
    for ((addr, kind), bits) in &view.objects {
        let addr = *addr;
        let object = match kind.as_str() {
            "tcb" => ObjectKind::Tcb(capdl::TcbAttrs::default()),
            "cnode" => ObjectKind::CNode { size_bits: *bits },
            "ep" => ObjectKind::Endpoint,
            "notification" => ObjectKind::Notification,
            "frame" => ObjectKind::Frame {
                size: FrameSize::from_bytes(1 << bits).unwrap_or(FrameSize::Small),
                paddr: Some(addr),
            },
            "ut" => ObjectKind::Untyped {
                size_bits: Some(*bits),
                paddr: Some(addr),
            },
            "pml4" => ObjectKind::Pml4,
            "pdpt" => ObjectKind::Pdpt,
            "pd" => ObjectKind::Pd,
            "pt" => ObjectKind::Pt,
            "asid_pool" => ObjectKind::AsidPool,
            _ => continue,
        };
        let _ = spec.add_object(name(kind, addr), object);
    }
    let mut port_objects = BTreeSet::new();
    let containers = view
        .tcbs
        .iter()
        .map(|(a, s)| (name("tcb", *a), s))
        .chain(view.cnodes.iter().map(|(a, (_, s))| (name("cnode", *a), s)));
    for (container, slots) in containers {
        for (&slot, k) in slots {
            let target = match k.kind.as_str() {
                "io_ports" => {
                    let (first, last) = k.ports.unwrap_or_default();
                    let n = format!("io_ports_{first:x}_{last:x}");
                    if port_objects.insert(n.clone()) {
                        let _ = spec.add_object(&n, ObjectKind::IoPorts { first, last });
                    }
                    n
                }
                s if capdl::SPECIAL_TARGETS.contains(&s) => s.to_string(),
                _ => name(&k.kind, k.target),
            };
            let mut cap = Cap::new(target).with_rights(k.rights);
            if k.badge != 0 {
                cap = cap.with_badge(k.badge);
            }
            if k.kind == "cnode" {
                cap = cap.with_guard(k.guard, k.guard_size);
            }
            // What capDL cannot say (reply caps, a frame in a TCB's reply
            // slot...) is left out of the text but compared below.
            let _ = spec.insert_cap(&container, slot, cap);
        }
    }
    spec
}

/// One difference between the spec and the kernel.
type Difference = String;

/// Compares the root task's spec (with its objects' addresses) with the
/// kernel's view: same objects at the same addresses with the same type,
/// the same caps in every TCB and CNode slot of the spec, the same frames
/// at the same addresses in every VSpace of the spec.
fn compare(spec: &Spec, addrs: &BTreeMap<String, u64>, view: &KernelView) -> Vec<Difference> {
    let mut diffs = Vec::new();
    let addr_of = |name: &str| -> Option<u64> {
        match spec.kind(name) {
            Some(ObjectKind::Frame { paddr: Some(p), .. })
            | Some(ObjectKind::Untyped { paddr: Some(p), .. }) => Some(*p),
            _ => addrs.get(name).copied(),
        }
    };
    for o in spec.objects() {
        let kw = o.kind.object_type().keyword();
        let Some(addr) = addr_of(&o.name) else {
            continue; // io_ports, the initial ASID pool: no address
        };
        if addrs.get(&o.name).is_some_and(|&a| a != addr) {
            diffs.push(format!(
                "`{}`: the spec says paddr {addr:#x} but the root task's record says {:#x}",
                o.name, addrs[&o.name]
            ));
        }
        let there: Vec<&str> = view
            .objects
            .range((addr, String::new())..)
            .take_while(|((a, _), _)| *a == addr)
            .map(|((_, k), _)| k.as_str())
            .collect();
        if there.is_empty() {
            diffs.push(format!(
                "`{}` ({kw} at {addr:#x}): no cap anywhere in the kernel names an object there",
                o.name
            ));
        } else if !there.contains(&kw) {
            diffs.push(format!(
                "`{}`: the spec says {kw} at {addr:#x}, the kernel has {} there",
                o.name,
                there.join(" and ")
            ));
        }
        let kernel_slots = match &o.kind {
            ObjectKind::Tcb(_) => view.tcbs.get(&addr),
            ObjectKind::CNode { size_bits } => match view.cnodes.get(&addr) {
                Some((radix, slots)) => {
                    if radix != size_bits {
                        diffs.push(format!(
                            "`{}`: the spec says 2^{size_bits} slots, the kernel's cap says 2^{radix}",
                            o.name
                        ));
                    }
                    Some(slots)
                }
                None => None,
            },
            ObjectKind::Pml4 => {
                compare_vspace(spec, &o.name, addr, view, &addr_of, &mut diffs);
                continue;
            }
            _ => continue,
        };
        let Some(kernel_slots) = kernel_slots else {
            diffs.push(format!(
                "`{}` ({kw} at {addr:#x}): the walk from the run queue never reached it",
                o.name
            ));
            continue;
        };
        compare_slots(spec, &o.name, kernel_slots, &addr_of, &mut diffs);
    }
    diffs
}

fn compare_slots(
    spec: &Spec,
    container: &str,
    kernel: &BTreeMap<u64, KCap>,
    addr_of: &dyn Fn(&str) -> Option<u64>,
    diffs: &mut Vec<Difference>,
) {
    let Some(object) = spec.object(container) else {
        return;
    };
    let is_tcb = matches!(object.kind, ObjectKind::Tcb(_));
    let slots: BTreeSet<u64> = object.slots.keys().chain(kernel.keys()).copied().collect();
    for slot in slots {
        let want = object.slots.get(&slot);
        let have = kernel.get(&slot);
        let place = format!("`{container}` slot {slot}");
        match (want, have) {
            (None, Some(k)) => {
                // The kernel keeps a master reply cap in every TCB (5.0,
                // non-MCS): not a cap anyone was given.
                if is_tcb && k.kind == "reply" && k.master {
                    continue;
                }
                diffs.push(format!(
                    "{place}: the kernel holds a {} cap (to {:#x}) the spec does not list",
                    k.kind, k.target
                ));
            }
            (Some(c), None) => diffs.push(format!(
                "{place}: the spec lists a cap to `{}`, the kernel's slot is empty",
                c.target
            )),
            (Some(c), Some(k)) => {
                if let Some(d) = cap_difference(spec, c, k, addr_of) {
                    diffs.push(format!("{place}: {d}"));
                }
            }
            (None, None) => {}
        }
    }
}

/// How a spec cap differs from the kernel's, if it does.
fn cap_difference(
    spec: &Spec,
    c: &Cap,
    k: &KCap,
    addr_of: &dyn Fn(&str) -> Option<u64>,
) -> Option<String> {
    let kind = spec.kind(&c.target);
    let kw = kind.map_or(c.target.as_str(), |k| k.object_type().keyword());
    if kw != k.kind {
        return Some(format!(
            "the spec has a cap to `{}` ({kw}), the kernel a {} cap",
            c.target, k.kind
        ));
    }
    if let Some(ObjectKind::IoPorts { first, last }) = kind {
        return (k.ports != Some((*first, *last))).then(|| {
            format!(
                "ports {first:#x}..{last:#x} in the spec, {:x?} in the kernel",
                k.ports
            )
        });
    }
    if let Some(addr) = addr_of(&c.target) {
        if addr != k.target {
            return Some(format!(
                "the spec's cap names `{}` at {addr:#x}, the kernel's names {:#x}",
                c.target, k.target
            ));
        }
    }
    let mut out = Vec::new();
    let compare_rights = matches!(
        kind,
        Some(ObjectKind::Endpoint | ObjectKind::Notification | ObjectKind::Frame { .. })
    );
    if compare_rights && c.rights != k.rights {
        out.push(format!(
            "rights `{}` in the spec, `{}` in the kernel",
            c.rights, k.rights
        ));
    }
    if c.badge != k.badge {
        out.push(format!(
            "badge {} in the spec, {} in the kernel",
            c.badge, k.badge
        ));
    }
    if matches!(kind, Some(ObjectKind::CNode { .. }))
        && (c.guard, c.guard_size) != (k.guard, k.guard_size)
    {
        out.push(format!(
            "guard {}/{} bits in the spec, {}/{} in the kernel",
            c.guard, c.guard_size, k.guard, k.guard_size
        ));
    }
    (!out.is_empty()).then(|| format!("cap to `{}`: {}", c.target, out.join(", ")))
}

fn compare_vspace(
    spec: &Spec,
    pml4: &str,
    addr: u64,
    view: &KernelView,
    addr_of: &dyn Fn(&str) -> Option<u64>,
    diffs: &mut Vec<Difference>,
) {
    let Some(kernel) = view.vspaces.get(&addr) else {
        diffs.push(format!(
            "`{pml4}` (pml4 at {addr:#x}): no PML4 cap in the kernel names it"
        ));
        return;
    };
    let want: BTreeMap<u64, (Option<u64>, FrameSize, Rights, &str)> = spec
        .mappings_in(pml4)
        .iter()
        .map(|m| (m.vaddr, (addr_of(m.frame), m.size, m.rights, m.frame)))
        .collect();
    let vaddrs: BTreeSet<u64> = want.keys().chain(kernel.keys()).copied().collect();
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    for va in vaddrs {
        match (want.get(&va), kernel.get(&va)) {
            (Some((_, _, _, f)), None) => missing.push(format!("{va:#x} (`{f}`)")),
            (None, Some((p, s, _))) => extra.push(format!("{va:#x} ({s:?} frame {p:#x})")),
            (Some((p, s, r, f)), Some((kp, ks, kr))) => {
                if p.is_some_and(|p| p != *kp) || s != ks || r != kr {
                    diffs.push(format!(
                        "`{pml4}` at {va:#x}: the spec maps `{f}` ({s:?}, {r}, at {}), the kernel {ks:?} frame {kp:#x} ({kr})",
                        p.map_or("?".into(), |p| format!("{p:#x}"))
                    ));
                }
            }
            (None, None) => {}
        }
    }
    for (what, list) in [
        ("mapped in the spec but not in the kernel", missing),
        ("mapped in the kernel but not in the spec", extra),
    ] {
        if !list.is_empty() {
            let shown: Vec<&str> = list.iter().take(8).map(String::as_str).collect();
            diffs.push(format!(
                "`{pml4}`: {} page(s) {what}: {}{}",
                list.len(),
                shown.join(", "),
                if list.len() > 8 { ", …" } else { "" }
            ));
        }
    }
}

/// `-- paddr <name> <addr>` comment lines of the root task's spec.
fn paddr_comments(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.trim().strip_prefix("-- paddr ")?.split_whitespace();
            let name = w.next()?;
            let addr = u64::from_str_radix(w.next()?.strip_prefix("0x")?, 16).ok()?;
            Some((name.to_string(), addr))
        })
        .collect()
}

/// The QEMU command of the variant's `simulate` script, with COM1 on a
/// Unix socket (QEMU waits for us to connect), no monitor, and the fw_cfg
/// file that asks for the snapshot.
fn qemu_command(variant: Variant, nodes: u32, mem: &str, socket: &Path) -> Result<Command> {
    let out = Command::new(variant.simulate_script())
        .args(["--dry-run", "--smp", &nodes.to_string(), "--mem-size", mem])
        .output()
        .context("cannot run the simulate script")?;
    if !out.status.success() {
        bail!(
            "`simulate --dry-run` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8(out.stdout)?;
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.iter().any(|w| w.contains(['\'', '"', '\\'])) {
        bail!("the simulate script's command needs shell quoting: {line}");
    }
    let at = words
        .iter()
        .position(|w| *w == "mon:stdio")
        .context("the simulate script's command has no `-serial mon:stdio`")?;
    let serial = format!("unix:{},server=on,wait=on", socket.display());
    let mut cmd = Command::new(words[0]);
    for (i, w) in words.iter().enumerate().skip(1) {
        cmd.arg(if i == at { serial.as_str() } else { w });
    }
    cmd.args(["-monitor", "none", "-fw_cfg"])
        .arg(format!("name={REQUEST},string=1"));
    Ok(cmd)
}

/// Reads the console from the socket until the kernel has entered the
/// protocol; returns the console text.
fn read_console(stream: &mut UnixStream, log: &mut Vec<u8>, deadline: Instant) -> Result<String> {
    let mut buf = [0u8; 65536];
    loop {
        let text = String::from_utf8_lossy(log);
        if let Some(at) = text.find(ENTERED) {
            if text[at..].contains('\n') {
                return Ok(text.into_owned());
            }
        }
        for stop in ["CAPDL-ERROR", "ROOT-TASK-FAIL", "PANIC:"] {
            if let Some(at) = text.find(stop) {
                let line = text[at..].lines().next().unwrap_or_default().to_string();
                bail!("the boot failed before the snapshot: {line}");
            }
        }
        if text.contains("ROOT-TASK-OK") {
            bail!("the root task finished without taking the snapshot (not a debug kernel, or the fw_cfg request was not seen)");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            bail!(
                "timed out before the kernel entered the capDL dump; last console line: {last:?}"
            );
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => bail!("QEMU closed the serial line before the snapshot"),
            Ok(n) => log.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e).context("reading COM1"),
        }
    }
}

/// Boots `variant`, walks the kernel's view, compares it with the spec.
/// The console and the protocol bytes go to `log`; the kernel's view as
/// capDL to `out_dir/kernel-<stem>.cdl`.
pub fn witness(
    variant: Variant,
    nodes: u32,
    mem: &str,
    timeout: Duration,
    log: &Path,
    out_dir: &Path,
) -> Result<()> {
    if !variant.is_debug() {
        bail!(
            "the kernel's capDL dump exists only on debug kernels (`-v debug` or `-v debug-smp`)"
        );
    }
    let pbf = variant
        .kernel_dir()
        .join("build/arch/object/structures.pbf");
    let bf_text =
        fs::read_to_string(&pbf).with_context(|| format!("cannot read {}", pbf.display()))?;
    let bf = Bitfields::parse(&bf_text).with_context(|| format!("in {}", pbf.display()))?;
    let stem = format!("{variant}-x{nodes}-{mem}");
    let socket = PathBuf::from(format!("/tmp/lwk-capdl-{}-{stem}.sock", std::process::id()));
    let _ = fs::remove_file(&socket);
    let cmd = qemu_command(variant, nodes, mem, &socket)?;
    step(format!(
        "capdl witness: booting {stem} with COM1 on {}, timeout {} s",
        socket.display(),
        timeout.as_secs()
    ));
    let deadline = Instant::now() + timeout;
    let machine = Machine::spawn(cmd)?;
    let result = (|| -> Result<()> {
        let mut stream = loop {
            match UnixStream::connect(&socket) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => return Err(e).context("QEMU never opened its COM1 socket"),
            }
        };
        let mut console = Vec::new();
        let outcome = (|| -> Result<()> {
            let text = read_console(&mut stream, &mut console, deadline)?;
            let clean: String = text.replace('\r', "");
            let (spec_text, declared) = super::Capture::from_log(&clean).finish()?;
            let checked = super::check_text(&spec_text, declared)?;
            let addrs = paddr_comments(&spec_text);
            if addrs.is_empty() {
                bail!("the spec carries no `-- paddr` comments: the root task is too old");
            }
            stream.set_read_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_secs(1)),
            ))?;
            let mut dump = Dump {
                stream: stream.try_clone()?,
                log: Vec::new(),
            };
            let started = Instant::now();
            let view = walk(&mut dump, &bf)?;
            dump.query(DONE, &[])?;
            console.extend_from_slice(&dump.log);
            step(format!(
                "capdl witness: walked {} TCB(s), {} CNode(s), {} VSpace(s), {} objects in {:.1} s",
                view.tcbs.len(),
                view.cnodes.len(),
                view.vspaces.len(),
                view.objects.len(),
                started.elapsed().as_secs_f64()
            ));
            let kernel_spec = to_spec(&view);
            fs::create_dir_all(out_dir)?;
            let file = out_dir.join(format!("kernel-{stem}.cdl"));
            fs::write(&file, capdl::print(&kernel_spec))
                .with_context(|| format!("cannot write {}", file.display()))?;
            let diffs = compare(&checked.spec, &addrs, &view);
            println!(
                "capdl witness: the kernel's view ({}) against the root task's spec ({} objects)",
                file.display(),
                checked.spec.objects().len()
            );
            if diffs.is_empty() {
                println!("capdl witness: no difference: every object, cap and mapping of the spec is in the kernel as stated");
                return Ok(());
            }
            println!("capdl witness: {} difference(s):", diffs.len());
            for d in &diffs {
                println!("  {d}");
            }
            bail!(
                "the kernel's view differs from the spec in {} place(s)",
                diffs.len()
            )
        })();
        // The rest of the boot after DONE, for the log.
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut rest = [0u8; 4096];
        while let Ok(n) = stream.read(&mut rest) {
            if n == 0 {
                break;
            }
            console.extend_from_slice(&rest[..n]);
        }
        fs::write(log, &console).with_context(|| format!("cannot write {}", log.display()))?;
        outcome
    })();
    drop(machine);
    let _ = fs::remove_file(&socket);
    result.map_err(|e| anyhow!("{e:#} (console log: {})", log.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "arch x86_64\nobjects {\n    pers_control = tcb\n    pers_cnode = cnode (4 bits)\n    pers_ep = ep\n}\n\
        caps {\n    pers_control { cspace: pers_cnode (guard: 0, guard_size: 60) }\n    pers_cnode { 1: pers_ep (RWG, badge: 3) }\n}\n\
        -- paddr pers_control 0x1000\n-- paddr pers_cnode 0x4000\n-- paddr pers_ep 0x8000\n";

    fn kernel() -> KernelView {
        let cnode = KCap {
            size_bits: 4,
            guard_size: 60,
            ..KCap::new("cnode", 0x4000)
        };
        let reply = KCap {
            master: true,
            ..KCap::new("reply", 0x1000)
        };
        let ep = KCap {
            rights: Rights::RWG,
            badge: 3,
            ..KCap::new("ep", 0x8000)
        };
        let mut view = KernelView::default();
        view.tcbs
            .insert(0x1000, BTreeMap::from([(0, cnode), (2, reply)]));
        view.cnodes.insert(0x4000, (4, BTreeMap::from([(1, ep)])));
        for (a, k) in [(0x1000, "tcb"), (0x4000, "cnode"), (0x8000, "ep")] {
            view.objects.insert((a, k.into()), 0);
        }
        view
    }

    #[test]
    fn same_system_no_difference_and_each_change_is_listed() {
        let spec = capdl::parse(SPEC).unwrap();
        let addrs = paddr_comments(SPEC);
        assert_eq!(addrs.len(), 3);
        assert_eq!(compare(&spec, &addrs, &kernel()), Vec::<String>::new());

        let mut k = kernel();
        k.cnodes
            .get_mut(&0x4000)
            .unwrap()
            .1
            .get_mut(&1)
            .unwrap()
            .rights = Rights::RW;
        let d = compare(&spec, &addrs, &k);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].contains("rights `RWG` in the spec, `RW` in the kernel"),
            "{d:?}"
        );

        let mut k = kernel();
        let extra = KCap::new("frame", 0x9000);
        k.cnodes.get_mut(&0x4000).unwrap().1.insert(7, extra);
        let d = compare(&spec, &addrs, &k);
        assert!(
            d[0].contains("slot 7: the kernel holds a frame cap"),
            "{d:?}"
        );

        let mut k = kernel();
        k.tcbs
            .get_mut(&0x1000)
            .unwrap()
            .get_mut(&0)
            .unwrap()
            .guard_size = 59;
        let d = compare(&spec, &addrs, &k);
        assert!(d[0].contains("guard 0/60 bits in the spec, 0/59"), "{d:?}");

        let mut k = kernel();
        k.objects.remove(&(0x8000, "ep".into()));
        k.objects.insert((0x8000, "notification".into()), 0);
        let d = compare(&spec, &addrs, &k);
        assert!(
            d.iter()
                .any(|d| d.contains("the kernel has notification there")),
            "{d:?}"
        );
    }
}
