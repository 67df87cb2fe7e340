//! Round trips: `parse(print(s)) == s` and `print(parse(print(s))) ==
//! print(s)`, on hand-written specs and on generated ones.

mod common;

use capdl::{
    parse, print, Arch, Asid, Cap, FrameSize, ObjectKind, Rights, Spec, TcbAttrs, SPECIAL_TARGETS,
};

fn assert_round_trip(spec: &Spec) {
    let text = print(spec);
    let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&back, spec, "parse(print(spec)) differs\n{text}");
    assert_eq!(print(&back), text, "printing is not stable");
}

#[test]
fn good_fixture_round_trips() {
    let spec = common::good();
    assert_eq!(spec.objects().len(), 43);
    assert_round_trip(&spec);
}

/// A hand-written text that uses the freedoms of the syntax: comments in
/// odd places, implicit slots, symbolic slots, `;`, octal, `1G`, `irq_maps`,
/// sections out of order and repeated, caps before the objects they name.
const LOOSE: &str = "
arch /* the only one */ x86_64
caps {
    t { cspace: c (guard_size: 0o10, guard: 0) ; vspace: v }
    c { e (R W, badge: 0x10); n (X); 4: f (RW, asid: (1, 2), cached) ; u }
}
objects {
    t = tcb (fault_ep: 1, dom: 0, max_prio: 9)
    c = cnode (4 bits)
    /* nested /* comments */ are fine */ e = ep
}
objects { n = notification
  f = frame (4 k)  v = pml4  p = pdpt  h = frame(1G)  u = ut  i = irq i2 = irq }
caps { v { 3: p } p { 511: h (RW) } c { 6: irq_control } }
irq_maps { 9: i; i2 }
";

#[test]
fn loose_text_parses_and_round_trips() {
    let spec = parse(LOOSE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.cap("c", 0).unwrap().badge, 16);
    assert_eq!(spec.cap("c", 0).unwrap().rights, Rights::R | Rights::W);
    assert_eq!(spec.cap("c", 1).unwrap().target, "n");
    assert_eq!(spec.cap("c", 5).unwrap().target, "u");
    assert_eq!(spec.cap("t", 0).unwrap().guard_size, 8);
    assert_eq!(spec.kind("h").unwrap().frame_size(), Some(FrameSize::Huge));
    assert_eq!(spec.irq_map().get(&10).map(String::as_str), Some("i2"));
    assert_eq!(
        spec.translate("v", (3 << 39) | (511 << 30) | 5)
            .unwrap()
            .frame,
        "h"
    );
    assert_round_trip(&spec);
    // 1 GiB frames print in the unit capDL-tool knows.
    assert!(print(&spec).contains("h = frame (1024M)"));
}

/// A tiny deterministic generator (xorshift64*): no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn maybe(&mut self, value: u64) -> Option<u64> {
        self.chance(50).then_some(value)
    }
}

fn random_kind(rng: &mut Rng) -> ObjectKind {
    match rng.below(13) {
        0 => ObjectKind::Tcb(TcbAttrs {
            ipc_buffer_addr: rng.maybe(rng.0 & 0xffff_f000),
            ip: rng.maybe(0x40_1000),
            sp: rng.maybe(u64::MAX),
            prio: rng.chance(50).then_some(rng.below(256) as u8),
            max_prio: rng.chance(30).then_some(255),
            affinity: rng.chance(50).then_some(rng.below(8) as u32),
            domain: rng.chance(20).then_some(0),
            fault_ep: rng.chance(50).then_some(rng.0 % 64),
        }),
        1 => ObjectKind::CNode {
            size_bits: 1 + rng.below(12) as u8,
        },
        2 => ObjectKind::Endpoint,
        3 => ObjectKind::Notification,
        4 => ObjectKind::Frame {
            size: [FrameSize::Small, FrameSize::Large, FrameSize::Huge][rng.below(3) as usize],
            paddr: rng.maybe(rng.0 & !0xfff),
        },
        5 => ObjectKind::Untyped {
            size_bits: rng.chance(70).then_some(rng.below(48) as u8),
            paddr: rng.maybe(0x20_0000),
        },
        6 => ObjectKind::Pml4,
        7 => ObjectKind::Pdpt,
        8 => ObjectKind::Pd,
        9 => ObjectKind::Pt,
        10 => {
            let first = rng.below(0x10000) as u16;
            ObjectKind::IoPorts {
                first,
                last: first.saturating_add(rng.below(16) as u16),
            }
        }
        11 => ObjectKind::Irq,
        _ => ObjectKind::AsidPool,
    }
}

fn random_cap(rng: &mut Rng, spec: &Spec) -> Cap {
    let objects = spec.objects();
    let target = if rng.chance(5) {
        SPECIAL_TARGETS[rng.below(5) as usize].to_string()
    } else {
        objects[rng.below(objects.len() as u64) as usize]
            .name
            .clone()
    };
    let mut cap = Cap::new(target.clone());
    match spec.kind(&target) {
        Some(ObjectKind::Endpoint | ObjectKind::Notification) => {
            cap.rights =
                Rights::from_word(["R", "RW", "WG", "RWGX", "X"][rng.below(5) as usize]).unwrap();
            cap.badge = if rng.chance(50) { rng.next() } else { 0 };
        }
        Some(ObjectKind::CNode { .. }) if rng.chance(50) => {
            cap = cap.with_guard(rng.below(4), 64 - rng.below(20) as u8);
        }
        Some(ObjectKind::Frame { .. }) => {
            cap.rights = if rng.chance(70) {
                Rights::RW
            } else {
                Rights::NONE
            };
            if rng.chance(30) {
                cap = cap.uncached();
            }
            if rng.chance(30) {
                cap = cap.with_asid(Asid {
                    high: 0,
                    low: rng.below(512),
                });
            }
            if rng.chance(30) {
                let table = &objects[rng.below(objects.len() as u64) as usize].name;
                cap = cap.with_mapping(table.clone(), rng.below(512));
            }
        }
        Some(ObjectKind::Pml4 | ObjectKind::AsidPool) if rng.chance(30) => {
            cap = cap.with_asid(Asid { high: 1, low: 3 });
        }
        _ => {}
    }
    cap
}

fn random_spec(seed: u64) -> Spec {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut spec = Spec::new(Arch::X86_64);
    let count = 1 + rng.below(40);
    for i in 0..count {
        let name = match rng.below(4) {
            0 => format!("app_{i}_o"),
            1 => format!("o{i}"),
            2 => format!("x.{i}@y-z"),
            _ => format!("pool_{i}"),
        };
        spec.add_object(name, random_kind(&mut rng)).unwrap();
    }
    let containers: Vec<String> = spec
        .objects()
        .iter()
        .filter(|o| o.kind.object_type().holds_caps())
        .map(|o| o.name.clone())
        .collect();
    let mut inserted = 0;
    for _ in 0..(containers.len() * 30) {
        let container = &containers[rng.below(containers.len() as u64) as usize];
        let slot = match spec.kind(container) {
            Some(ObjectKind::Tcb(_)) => rng.below(9),
            Some(ObjectKind::Irq) => 0,
            _ => rng.below(512),
        };
        let cap = random_cap(&mut rng, &spec);
        inserted += usize::from(spec.insert_cap(container, slot, cap).is_ok());
    }
    let irqs: Vec<String> = spec
        .objects()
        .iter()
        .filter(|o| o.kind == ObjectKind::Irq)
        .map(|o| o.name.clone())
        .collect();
    for irq in &irqs {
        let _ = spec.map_irq(rng.below(32), irq);
    }
    let _ = inserted;
    spec
}

#[test]
fn generated_specs_round_trip() {
    let mut caps = 0;
    for seed in 0..300 {
        let spec = random_spec(seed);
        caps += spec.caps().count();
        assert_round_trip(&spec);
    }
    // The generator must actually exercise caps, not only objects.
    assert!(caps > 1000, "only {caps} caps generated");
}

#[test]
#[ignore = "prints the canonical form of good.cdl for eyeballing"]
fn show_good() {
    println!("{}", print(&common::good()));
}

/// The format example in README.md (also the crate docs) must be valid.
#[test]
fn readme_example_parses() {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find("## The text format").unwrap()..];
    let start = section.find("```text\n").unwrap() + "```text\n".len();
    let text = &section[start..start + section[start..].find("```").unwrap()];
    let spec = parse(text).unwrap_or_else(|e| panic!("README example: {e}"));
    assert_eq!(
        spec.translate("pers_pml4", 0x4000_0000).unwrap().frame,
        "pool_0"
    );
    let mapping = spec.cap("pers_cnode", 2).unwrap().mapping.clone().unwrap();
    assert_eq!(
        spec.frame_mapping_vaddr(&mapping),
        Some(("pers_pml4", 0x4000_0000))
    );
    assert_round_trip(&spec);
}
