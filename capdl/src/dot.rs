//! Graphviz (dot) drawing of a spec: threads grouped by role, the CSpace and
//! VSpace each one runs in, the caps those CSpaces hold to communication
//! and device objects, and the memory VSpaces share.
//!
//! A real spec holds hundreds of frame, untyped and page-table caps; drawing
//! each would bury the structure, so they are counted in the CSpace's label
//! and only caps that connect components (endpoints, notifications, TCBs,
//! IRQs, I/O ports, kernel-wide authorities) become edges. Frames mapped in
//! more than one VSpace become one dashed edge per pair of VSpaces, and the
//! shared buffer (`ivshmem…`) is one node of its own.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::cspace::FaultEpSource;
use crate::model::{ObjectKind, ObjectType};
use crate::roles::{is_shared_buffer, Role};
use crate::spec::Spec;

/// The node standing for the whole shared buffer.
const SHARED_BUFFER_NODE: &str = "shared buffer (ivshmem)";

/// A byte count in the largest binary unit it reaches, to one decimal.
fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size {
            let tenths = u128::from(bytes) * 10 / u128::from(size);
            return match tenths % 10 {
                0 => format!("{} {unit}", tenths / 10),
                t => format!("{}.{t} {unit}", tenths / 10),
            };
        }
    }
    format!("{bytes} B")
}

/// Whether caps to objects of this type are drawn as edges.
fn drawn(kind: Option<&ObjectKind>) -> bool {
    match kind {
        None => true, // kernel-wide authorities such as irq_control
        Some(k) => matches!(
            k.object_type(),
            ObjectType::Endpoint
                | ObjectType::Notification
                | ObjectType::Tcb
                | ObjectType::Irq
                | ObjectType::IoPorts
        ),
    }
}

fn cluster_label(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::RootTask) => "root task",
        Some(Role::Personality) => "LWK personality",
        Some(Role::Handler) => "fault handlers",
        Some(Role::Application) => "applications",
        None => "unclassified",
    }
}

/// Renders `spec` as a Graphviz digraph.
pub fn render(spec: &Spec) -> String {
    let threads = spec.threads();
    let mut clusters: BTreeMap<Option<Role>, Vec<String>> = BTreeMap::new();
    let mut edges: Vec<String> = Vec::new();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    // CSpace root → the first thread using it, whose held caps stand for it.
    let mut cspaces: Vec<(&str, &str)> = Vec::new();

    for t in &threads {
        let nodes = clusters.entry(t.role).or_default();
        let core = match spec.kind(t.name) {
            Some(ObjectKind::Tcb(a)) => a.affinity.map(|c| format!("\\ncore {c}")),
            _ => None,
        };
        nodes.push(format!(
            "\"{0}\" [label=\"{0}{1}\"];",
            t.name,
            core.unwrap_or_default()
        ));
        if let Some(cnode) = spec.cspace_of(t.name) {
            edges.push(format!("\"{}\" -> \"{cnode}\" [label=\"cspace\"];", t.name));
            if placed.insert(cnode) {
                cspaces.push((cnode, t.name));
                nodes.push(cspace_node(spec, cnode, t.name));
            }
        }
        if let Some(vspace) = spec.vspace_of(t.name) {
            edges.push(format!(
                "\"{}\" -> \"{vspace}\" [label=\"vspace\"];",
                t.name
            ));
            if placed.insert(vspace) {
                let maps = spec.mappings_in(vspace);
                let bytes: u64 = maps.iter().map(|m| m.size.bytes()).sum();
                nodes.push(format!(
                    "\"{vspace}\" [shape=tab, label=\"{vspace}\\n{} frames, {}\"];",
                    maps.len(),
                    human(bytes)
                ));
            }
        }
        if let Some(f) = spec.fault_endpoint(t.name) {
            if f.source == FaultEpSource::TcbSlot {
                edges.push(format!(
                    "\"{}\" -> \"{}\" [style=dotted, label=\"fault ep\"];",
                    t.name, f.endpoint
                ));
            }
        }
    }

    // Caps that connect components, drawn once per CSpace.
    let mut targets: BTreeSet<&str> = BTreeSet::new();
    for &(cnode, tcb) in &cspaces {
        for held in spec.held_caps(tcb) {
            if !drawn(spec.kind(&held.cap.target)) {
                continue;
            }
            let mut label = format!("{}", held.cap.rights);
            if held.cap.badge != 0 {
                let sep = if label.is_empty() { "" } else { ", " };
                label.push_str(&format!("{sep}badge {}", held.cap.badge));
            }
            edges.push(format!(
                "\"{cnode}\" -> \"{}\" [label=\"{label}\"];",
                held.cap.target
            ));
            targets.insert(&held.cap.target);
        }
    }

    // Memory shared between VSpaces.
    let mut by_frame: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut buffer_users: BTreeSet<&str> = BTreeSet::new();
    let mut buffer_frames: BTreeMap<&str, u64> = BTreeMap::new();
    for m in spec.all_mappings() {
        if is_shared_buffer(m.frame) {
            buffer_users.insert(m.vspace);
            buffer_frames.insert(m.frame, m.size.bytes());
        } else {
            by_frame.entry(m.frame).or_default().insert(m.vspace);
        }
    }
    let mut pairs: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for (frame, vspaces) in &by_frame {
        let bytes = spec
            .kind(frame)
            .and_then(ObjectKind::frame_size)
            .map_or(0, |s| s.bytes());
        let list: Vec<&str> = vspaces.iter().copied().collect();
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                let entry = pairs.entry((a, b)).or_default();
                entry.0 += 1;
                entry.1 += bytes;
            }
        }
    }
    for ((a, b), (count, bytes)) in &pairs {
        edges.push(format!(
            "\"{a}\" -> \"{b}\" [dir=both, style=dashed, color=blue, label=\"shares {count} frames, {}\"];",
            human(*bytes)
        ));
        for v in [a, b] {
            if placed.insert(v) {
                clusters
                    .entry(None)
                    .or_default()
                    .push(format!("\"{v}\" [shape=tab];"));
            }
        }
    }
    for v in &buffer_users {
        edges.push(format!(
            "\"{v}\" -> \"{SHARED_BUFFER_NODE}\" [style=dashed, color=red, label=\"maps\"];"
        ));
        if placed.insert(v) {
            clusters
                .entry(None)
                .or_default()
                .push(format!("\"{v}\" [shape=tab];"));
        }
    }

    let mut out = String::new();
    let w = &mut out;
    // Writing to a String cannot fail; the results are ignored for brevity.
    let _ = writeln!(w, "digraph capdl {{");
    let _ = writeln!(w, "    graph [rankdir=LR, fontname=\"Helvetica\"];");
    let _ = writeln!(
        w,
        "    node [shape=box, style=rounded, fontname=\"Helvetica\"];"
    );
    let _ = writeln!(w, "    edge [fontname=\"Helvetica\", fontsize=10];");
    for (role, nodes) in &clusters {
        let id = role.map_or("other", |r| r.prefix());
        let _ = writeln!(w, "    subgraph \"cluster_{id}\" {{");
        let _ = writeln!(w, "        label=\"{}\";", cluster_label(*role));
        for n in nodes {
            let _ = writeln!(w, "        {n}");
        }
        let _ = writeln!(w, "    }}");
    }
    for t in targets.iter().filter(|t| !placed.contains(*t)) {
        let ty = spec
            .kind(t)
            .map_or("authority", |k| k.object_type().keyword());
        if !matches!(spec.kind(t), Some(ObjectKind::Tcb(_))) {
            let _ = writeln!(w, "    \"{t}\" [shape=ellipse, label=\"{t}\\n{ty}\"];");
        }
    }
    if !buffer_frames.is_empty() {
        let bytes: u64 = buffer_frames.values().sum();
        let _ = writeln!(
            w,
            "    \"{SHARED_BUFFER_NODE}\" [shape=cylinder, label=\"{SHARED_BUFFER_NODE}\\n{} frames, {}\"];",
            buffer_frames.len(),
            human(bytes)
        );
    }
    for e in &edges {
        let _ = writeln!(w, "    {e}");
    }
    let _ = writeln!(w, "}}");
    out
}

/// A CSpace root node, labelled with the caps it holds that are not drawn
/// as edges, counted by type.
fn cspace_node(spec: &Spec, cnode: &str, tcb: &str) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let held = spec.held_caps(tcb);
    for c in &held {
        let kind = spec.kind(&c.cap.target);
        if !drawn(kind) {
            *counts
                .entry(kind.map_or("?", |k| k.object_type().keyword()))
                .or_default() += 1;
        }
    }
    let mut label = format!("{cnode}\\n{} caps", held.len());
    for (ty, n) in counts {
        label.push_str(&format!("\\n{n} {ty}"));
    }
    format!("\"{cnode}\" [shape=folder, label=\"{label}\"];")
}
