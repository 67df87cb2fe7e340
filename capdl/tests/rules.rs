//! Each design rule passes on the good spec and fires on a spec broken in
//! the way it guards against.

mod common;

use capdl::rules::{self, report, PoolShare, Rule};
use capdl::{Cap, ObjectKind, RuleConfig, RuleViolation, Spec};
use common::{good, good_with};

fn check(spec: &Spec) -> Vec<RuleViolation> {
    rules::check_all(spec, &RuleConfig::default())
}

/// The violations of `rule` in `spec`, asserting there is at least one.
fn fired(spec: &Spec, rule: Rule) -> Vec<RuleViolation> {
    let all = check(spec);
    let found: Vec<_> = all.iter().filter(|v| v.rule == rule).cloned().collect();
    assert!(!found.is_empty(), "rule {rule} did not fire; all: {all:#?}");
    found
}

#[test]
fn good_spec_passes_every_rule() {
    let spec = good();
    assert_eq!(check(&spec), vec![]);
    let text = report(&spec, &RuleConfig::default()).to_string();
    assert!(text.contains("all design rules hold"), "{text}");
    assert!(text.contains("1 × 4 KiB, 3 × 2 MiB, 1 × 1 GiB"), "{text}");
}

#[test]
fn roles_fire_on_unnamed_threads() {
    let spec = good_with(
        "    fault_ep_1 = ep\n",
        "    fault_ep_1 = ep\n    worker = tcb\n    app = tcb\n",
    );
    let v = fired(&spec, Rule::Roles);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].object, "worker");
    assert!(v[1].detail.contains("core key"), "{}", v[1]);
}

#[test]
fn app_holding_a_cap_fires() {
    let spec = good_with(
        "app_1_cnode { 1: fault_ep_1",
        "app_1_cnode { 0: pers_serial_ntfn (R)\n 1: fault_ep_1",
    );
    let v = fired(&spec, Rule::AppHoldsNoCaps);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].object, "app_1_tcb");
    assert!(
        v[0].detail
            .contains("`pers_serial_ntfn` (notification) in slot 0"),
        "{}",
        v[0]
    );
}

#[test]
fn app_fault_ep_cap_fires_when_not_allowed() {
    let config = RuleConfig {
        app_fault_ep_in_cspace: false,
        ..RuleConfig::default()
    };
    let v = rules::app_holds_no_caps(&good(), &config);
    let objects: Vec<&str> = v.iter().map(|v| v.object.as_str()).collect();
    assert_eq!(objects, ["app_1_tcb", "app_2_tcb"]);
}

#[test]
fn app_sharing_the_personality_cspace_fires() {
    let spec = good_with(
        "cspace: app_1_cnode (guard: 0, guard_size: 63)",
        "cspace: pers_cnode (guard: 0, guard_size: 52)",
    );
    assert!(fired(&spec, Rule::AppHoldsNoCaps).len() > 10);
}

#[test]
fn app_frame_mapped_in_another_app_fires() {
    let spec = good_with(
        "app_2_pd {\n        2: pool_2 (RW)",
        "app_2_pd {\n        2: pool_2 (RW)\n 3: pool_0 (R)",
    );
    let v = fired(&spec, Rule::AppFramesPrivate);
    assert!(v.iter().all(|v| v.object == "pool_0"), "{v:#?}");
    assert!(
        v.iter().any(|v| v.detail == "this frame of `app_1_tcb` is also mapped at 0x600000 in `app_2_pml4` (used by app_2_tcb)"),
        "{v:#?}"
    );
}

#[test]
fn app_sharing_the_personality_vspace_fires() {
    let spec = good_with("vspace: app_1_pml4", "vspace: pers_pml4");
    let v = fired(&spec, Rule::AppFramesPrivate);
    assert!(
        v[0].detail.contains("shared with a non-application thread"),
        "{}",
        v[0]
    );
}

/// Maps `frame` at 2 MiB into a fresh VSpace of the root task.
fn map_in_root(spec: &mut Spec, frame: &str) {
    spec.add_object("root_pdpt", ObjectKind::Pdpt).unwrap();
    spec.add_object("root_pd", ObjectKind::Pd).unwrap();
    spec.map("root_pml4", 0, "root_pdpt", capdl::Rights::NONE)
        .unwrap();
    spec.map("root_pml4", 0, "root_pd", capdl::Rights::NONE)
        .unwrap();
    spec.map("root_pml4", 0x20_0000, frame, capdl::Rights::RW)
        .unwrap();
}

#[test]
fn root_task_is_exempt_only_when_configured() {
    let mut spec = good();
    map_in_root(&mut spec, "pool_0");
    assert_eq!(check(&spec), vec![]);
    let strict = RuleConfig {
        exempt_root_task: false,
        ..RuleConfig::default()
    };
    let v = rules::app_frames_private(&spec, &strict);
    assert_eq!(v.len(), 1);
    assert!(
        v[0].detail.contains("`root_pml4` (used by root_tcb)"),
        "{}",
        v[0]
    );
}

#[test]
fn shared_buffer_mapped_by_an_app_fires() {
    let spec = good_with(
        "app_1_pd {\n        2: pool_0 (RW)",
        "app_1_pd {\n        2: pool_0 (RW)\n 5: ivshmem_0 (RW)",
    );
    let v = fired(&spec, Rule::SharedBuffer);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].object, "ivshmem_0");
    assert!(v[0].detail.contains("0xa00000 in `app_1_pml4`"), "{}", v[0]);
}

#[test]
fn shared_buffer_cap_outside_the_personality_fires() {
    let spec = good_with("app_2_cnode { 1:", "app_2_cnode { 0: ivshmem_1 (RW)\n 1:");
    let v = fired(&spec, Rule::SharedBuffer);
    assert_eq!(v[0].object, "ivshmem_1");
    assert!(v[0].detail.contains("slot 0 of `app_2_cnode`"), "{}", v[0]);
    fired(&spec, Rule::AppHoldsNoCaps);
}

#[test]
fn fault_ep_held_elsewhere_fires() {
    let spec = good_with("app_2_cnode { 1:", "app_2_cnode { 0: fault_ep_1 (W)\n 1:");
    let v = fired(&spec, Rule::FaultEp);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].object, "fault_ep_1");
    assert!(
        v[0].detail
            .contains("slot 0 of `app_2_cnode` (used by app_2_tcb)"),
        "{}",
        v[0]
    );
}

#[test]
fn handler_without_the_fault_ep_fires() {
    let spec = good_with("        12: fault_ep_1 (RWG)\n", "");
    let v = fired(&spec, Rule::FaultEp);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].object, "handler_1_tcb");
}

#[test]
fn app_without_handler_fires() {
    let text = common::GOOD.replace("handler_2_tcb", "handler_3_tcb");
    let spec = capdl::parse(&text).unwrap();
    let v = fired(&spec, Rule::FaultEp);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].object, "app_2_tcb");
    assert!(v[0].detail.contains("`handler_2`"), "{}", v[0]);
}

#[test]
fn app_without_fault_ep_fires() {
    let spec = good_with(
        "tcb (prio: 200, affinity: 1, fault_ep: 0x1)",
        "tcb (prio: 200, affinity: 1)",
    );
    let v = fired(&spec, Rule::FaultEp);
    assert_eq!(v[0].object, "app_1_tcb");
    assert!(v[0].detail.contains("no fault endpoint"), "{}", v[0]);
}

#[test]
fn mcs_style_fault_ep_slot_passes_strict_rules() {
    let mut spec = good();
    spec.remove_cap("app_1_cnode", 1).unwrap();
    spec.tcb_attrs_mut("app_1_tcb").unwrap().fault_ep = None;
    spec.insert_cap(
        "app_1_tcb",
        capdl::tcb_slot::FAULT_EP,
        Cap::new("fault_ep_1").with_badge(1),
    )
    .unwrap();
    let strict = RuleConfig {
        app_fault_ep_in_cspace: false,
        ..RuleConfig::default()
    };
    let v = rules::check_all(&spec, &strict);
    assert!(
        v.iter()
            .all(|v| v.object != "app_1_tcb" && v.object != "fault_ep_1"),
        "{v:#?}"
    );
}

#[test]
fn handler_on_another_core_fires() {
    let spec = good_with(
        "handler_1_tcb = tcb (addr: 0x411000, affinity: 1)",
        "handler_1_tcb = tcb (addr: 0x411000, affinity: 2)",
    );
    let v = fired(&spec, Rule::HandlerCore);
    assert_eq!(
        v[0].detail,
        "it runs on core 2 but `app_1_tcb` runs on core 1"
    );
}

#[test]
fn large_frame_share_is_measured_against_the_threshold() {
    let spec = good();
    let share = PoolShare::of(&spec);
    assert_eq!((share.small, share.large, share.huge), (1, 3, 1));
    assert_eq!(share.total_bytes(), (3 << 21) + (1 << 30) + 4096);
    assert!(share.ratio() > 0.999 && share.ratio() < 1.0);
    let config = RuleConfig {
        min_large_share: 1.0,
        ..RuleConfig::default()
    };
    let v = rules::large_frame_share(&spec, &config);
    assert_eq!(v.len(), 1);
    assert!(
        v[0].detail.ends_with("below the required 100.0%"),
        "{}",
        v[0]
    );
    // Many small frames push the share under the default threshold.
    let mut spec = spec;
    for i in 0..30_000 {
        let kind = ObjectKind::Frame {
            size: capdl::FrameSize::Small,
            paddr: None,
        };
        spec.add_object(format!("pool_x{i}"), kind).unwrap();
    }
    fired(&spec, Rule::LargeFrames);
}

#[test]
fn empty_pool_fires() {
    let spec = capdl::parse("arch x86_64 objects { pers_tcb = tcb }").unwrap();
    let v = fired(&spec, Rule::LargeFrames);
    assert!(v[0].detail.contains("no pool frames"));
    let text = report(&spec, &RuleConfig::default()).to_string();
    assert!(
        text.contains("1 design-rule violation(s):\n  [large-frames] pool:"),
        "{text}"
    );
}
