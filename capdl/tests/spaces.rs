//! VSpace derivation and construction, CSpace lookup, and the dot output.

mod common;

use capdl::{
    dot, Arch, Cap, FaultEpSource, FrameMapping, FrameSize, MapError, ModelError, ObjectKind,
    Rights, Spec,
};

#[test]
fn mappings_are_derived_from_the_table_tree() {
    let spec = common::good();
    let maps = spec.mappings_in("app_2_pml4");
    let got: Vec<(&str, u64, FrameSize)> =
        maps.iter().map(|m| (m.frame, m.vaddr, m.size)).collect();
    assert_eq!(
        got,
        [
            ("pool_2", 0x40_0000, FrameSize::Large),
            ("pool_s0", 0x80_0000, FrameSize::Small),
            ("pool_g0", 0x4000_0000, FrameSize::Huge),
        ]
    );
    let hit = spec.translate("pers_pml4", 0x4020_1234).unwrap();
    assert_eq!(
        (hit.frame, hit.vaddr, hit.table, hit.slot),
        ("pool_1", 0x4020_0000, "pers_pd_dm", 1)
    );
    assert!(spec.translate("pers_pml4", 0x7000_0000_0000).is_none());
    assert_eq!(
        spec.table_position("pers_pt_dm"),
        Some(("pers_pml4", 0x4060_0000))
    );
    let mapping = FrameMapping {
        table: "pers_pd".into(),
        slot: 8,
    };
    assert_eq!(
        spec.frame_mapping_vaddr(&mapping),
        Some(("pers_pml4", 0x100_0000))
    );
    // Every `mapping:` in the fixture agrees with the table it names.
    for held in spec.caps().filter(|c| c.cap.mapping.is_some()) {
        let (vspace, vaddr) = spec
            .frame_mapping_vaddr(held.cap.mapping.as_ref().unwrap())
            .unwrap();
        assert_eq!(
            spec.translate(vspace, vaddr).unwrap().frame,
            held.cap.target
        );
    }
}

#[test]
fn map_builds_the_tree_and_refuses_bad_requests() {
    let mut spec = Spec::new(Arch::X86_64);
    for (name, kind) in [
        ("v", ObjectKind::Pml4),
        ("p", ObjectKind::Pdpt),
        ("d", ObjectKind::Pd),
        ("t", ObjectKind::Pt),
        (
            "small",
            ObjectKind::Frame {
                size: FrameSize::Small,
                paddr: None,
            },
        ),
        (
            "large",
            ObjectKind::Frame {
                size: FrameSize::Large,
                paddr: None,
            },
        ),
        ("e", ObjectKind::Endpoint),
    ] {
        spec.add_object(name, kind).unwrap();
    }
    let addr = 0x7f_c020_3000; // pml4 0, pdpt 511, pd 1, pt 3
    assert_eq!(
        spec.map("v", addr, "small", Rights::RW),
        Err(MapError::MissingTable {
            table: "v".into(),
            slot: 0
        })
    );
    spec.map("v", 0, "p", Rights::NONE).unwrap();
    spec.map("v", 0x7f_c000_0000, "d", Rights::NONE).unwrap();
    assert_eq!(
        spec.map("v", 0x7f_c020_1000, "large", Rights::RW),
        Err(MapError::Misaligned {
            vaddr: 0x7f_c020_1000,
            align: 0x20_0000
        })
    );
    spec.map("v", 0x7f_c000_0000, "large", Rights::RW).unwrap();
    assert_eq!(
        spec.map("v", 0x7f_c000_0000, "t", Rights::NONE),
        Err(MapError::Model(ModelError::SlotOccupied {
            object: "d".into(),
            slot: 0
        }))
    );
    assert_eq!(
        spec.map("v", 0x7f_c000_1000, "small", Rights::RW),
        Err(MapError::Blocked {
            table: "d".into(),
            slot: 0,
            by: "large".into()
        })
    );
    spec.map("v", 0x7f_c020_0000, "t", Rights::NONE).unwrap();
    spec.map("v", addr, "small", Rights::R).unwrap();
    assert_eq!(spec.cap("t", 3).unwrap().rights, Rights::R);
    assert_eq!(spec.translate("v", addr + 5).unwrap().frame, "small");
    assert_eq!(
        spec.map("v", 0, "e", Rights::NONE),
        Err(MapError::NotMappable("e".into()))
    );
    assert_eq!(
        spec.map("p", 0, "d", Rights::NONE),
        Err(MapError::NotAVSpace("p".into()))
    );
    assert_eq!(
        spec.map("v", 1 << 47, "p", Rights::NONE),
        Err(MapError::NotUserAddress(1 << 47))
    );
}

#[test]
fn cptrs_resolve_through_guards_and_levels() {
    let mut spec = Spec::new(Arch::X86_64);
    spec.add_object("t", ObjectKind::Tcb(Default::default()))
        .unwrap();
    spec.add_object("top", ObjectKind::CNode { size_bits: 4 })
        .unwrap();
    spec.add_object("leaf", ObjectKind::CNode { size_bits: 8 })
        .unwrap();
    spec.add_object("e", ObjectKind::Endpoint).unwrap();
    // 64 bits = 44 guard bits (value 0) + 4 + 8 + 8 guard bits (0x5a) ... no:
    // top: guard 0 of 44 bits, 4 index bits; leaf: guard 0x5a of 8 bits, 8 index bits.
    spec.insert_cap("t", 0, Cap::new("top").with_guard(0, 44))
        .unwrap();
    spec.insert_cap("top", 3, Cap::new("leaf").with_guard(0x5a, 8))
        .unwrap();
    spec.insert_cap("leaf", 0x21, Cap::new("e").with_rights(Rights::RWG))
        .unwrap();
    spec.insert_cap("top", 7, Cap::new("e").with_badge(9))
        .unwrap();
    let found = spec.resolve_cptr("t", 0x3_5a21).unwrap();
    assert_eq!(
        (found.container, found.slot, found.cap.target.as_str()),
        ("leaf", 0x21, "e")
    );
    assert!(spec.resolve_cptr("t", 0x3_5b21).is_none(), "guard mismatch");
    assert!(
        spec.resolve_cptr("t", 1 << 63).is_none(),
        "top guard mismatch"
    );
    // A non-CNode cap ends the walk early, whatever bits remain.
    assert_eq!(spec.resolve_cptr("t", 0x7_0000).unwrap().cap.badge, 9);
    assert_eq!(spec.cspace_cnodes("t"), ["top", "leaf"]);
    assert_eq!(spec.held_caps("t").len(), 3);
    spec.tcb_attrs_mut("t").unwrap().fault_ep = Some(0x3_5a21);
    let fault = spec.fault_endpoint("t").unwrap();
    assert_eq!(fault.endpoint, "e");
    assert_eq!(
        fault.source,
        FaultEpSource::CSpace {
            cnode: "leaf",
            slot: 0x21
        }
    );
}

#[test]
fn dot_groups_components_and_shows_sharing() {
    let text = dot::render(&common::good());
    assert!(text.starts_with("digraph capdl {"));
    assert_eq!(text.matches('{').count(), text.matches('}').count());
    for needle in [
        "subgraph \"cluster_app\"",
        "subgraph \"cluster_pers\"",
        "subgraph \"cluster_handler\"",
        "label=\"applications\"",
        "\"app_1_tcb\" -> \"app_1_cnode\" [label=\"cspace\"];",
        "\"pers_cnode\" -> \"fault_ep_1\" [label=\"RWG\"];",
        "\"app_1_cnode\" -> \"fault_ep_1\" [label=\"WG, badge 1\"];",
        "\"app_1_pml4\" -> \"pers_pml4\" [dir=both, style=dashed, color=blue, label=\"shares 2 frames, 4 MiB\"];",
        "\"pers_pml4\" -> \"shared buffer (ivshmem)\"",
        "label=\"shared buffer (ivshmem)\\n2 frames, 4 MiB\"",
        "\\n7 frame",
        "12 frames, 1 GiB",
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
}
