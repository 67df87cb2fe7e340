//! The cases: realistic machines, awkward ones, bad input, and the model.

use super::fixtures::{self, Rng, GIB, MIB};
use super::sim::{Sim, SimError};
use super::{check, LARGE};
use crate::{
    plan, plan_strict, PageSize, PlanConfig, PlanError, Step, Untyped, UntypedProblem, UntypedRef,
};

const CONFIG: PlanConfig = PlanConfig::DEFAULT;

/// Plans with `config`, checks the invariants, prints the summary (visible
/// with `--nocapture`).
fn planned(name: &str, list: &[Untyped], config: &PlanConfig) -> crate::Plan {
    let plan = plan(list, config).unwrap_or_else(|e| panic!("{name}: {e}"));
    check(&plan, list, config);
    println!("== {name}\n{plan}");
    plan
}

fn frames_of(plan: &crate::Plan, page: PageSize) -> Vec<u64> {
    plan.pool
        .iter()
        .filter(|f| f.page == page)
        .map(|f| f.paddr)
        .collect()
}

#[test]
fn qemu_512m_takes_the_reserve_from_small_untypeds() {
    let list = fixtures::qemu_512m();
    let ram = list.iter().filter(|u| !u.is_device).count();
    assert!((25..=35).contains(&ram), "{ram} RAM untypeds");
    let plan = planned("512 MiB", &list, &CONFIG);
    assert_eq!(plan.totals.huge.count, 0);
    assert!(plan.totals.large.count >= 240);
    // All the sub-2 MiB pieces are reserve; no 2^27 untyped is touched.
    assert!(plan.unusable.is_empty());
    assert!(plan.steps.iter().all(|s| match s.untyped() {
        UntypedRef::Boot(i) => list[i].size_bits < 27 || matches!(s, Step::Frames { .. }),
        UntypedRef::Child(_) => false,
    }));
    // 16 MiB of 512 MiB is over a 3 % budget: reported, refused if strict.
    assert!(!plan.totals.within_budget());
    assert_eq!(
        plan_strict(&list, &CONFIG),
        Err(PlanError::OverBudget {
            percent_x100: plan.totals.overhead_x100
        })
    );
    let roomy = PlanConfig {
        max_overhead_percent: 4,
        ..CONFIG
    };
    assert!(plan_strict(&list, &roomy).is_ok());
}

#[test]
fn qemu_512m_counts_guest_ram_outside_the_untypeds() {
    let list = fixtures::qemu_512m();
    let config = PlanConfig {
        guest_ram_bytes: Some(512 * MIB),
        ..CONFIG
    };
    let plan = planned("512 MiB, guest RAM given", &list, &config);
    let outside = 512 * MIB - fixtures::ram_bytes(&list);
    assert_eq!(plan.totals.unusable.outside_untypeds, outside);
    assert!(outside > MIB && outside < 4 * MIB, "{outside:#x}");
    assert!(plan.to_string().contains("outside untypeds"));
}

#[test]
fn machine_2g_keeps_its_gigabyte_whole() {
    let list = fixtures::machine_2g();
    assert!(list
        .iter()
        .any(|u| !u.is_device && u.paddr == 0x2000_0000 && u.size_bits == 29));
    let plan = planned("2 GiB", &list, &CONFIG);
    assert_eq!(frames_of(&plan, PageSize::Huge1G), [GIB]);
    assert!(plan.totals.within_budget(), "{}", plan.totals.overhead_x100);
    // The small untypeds (0.1 MiB), the whole 4 and 8 MiB ones and a 4 MiB
    // child split off the front of the 16 MiB one make the reserve.
    let splits: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Split { .. }))
        .collect();
    let sixteen = list
        .iter()
        .find(|u| !u.is_device && u.size_bits == 24)
        .unwrap();
    assert_eq!(
        splits,
        [&Step::Split {
            untyped: UntypedRef::Boot(sixteen.index),
            child_bits: 22,
            count: 1
        }]
    );
    assert!(plan.reserve.iter().all(|b| b.size_bits <= 23));
    // Without HUGE_PAGE the same gigabyte is 512 2 MiB frames.
    let small_only = PlanConfig {
        allow_huge: false,
        ..CONFIG
    };
    let flat = planned("2 GiB, no 1 GiB frames", &list, &small_only);
    assert_eq!(flat.totals.pool_bytes(), plan.totals.pool_bytes());
    assert_eq!(flat.totals.large.count, plan.totals.large.count + 512);
}

#[test]
fn qemu_2g_has_nothing_1g_aligned() {
    let list = fixtures::qemu_2g();
    assert!(list.iter().all(|u| u.is_device || u.size_bits < 30));
    let plan = planned("2 GiB as QEMU lays it out", &list, &CONFIG);
    assert_eq!(plan.totals.huge.count, 0);
    assert!(plan.totals.large.count > 1000);
}

#[test]
fn qemu_4g_uses_both_sides_of_the_pci_hole() {
    let list = fixtures::qemu_4g();
    let plan = planned("4 GiB with PCI hole", &list, &CONFIG);
    assert_eq!(frames_of(&plan, PageSize::Huge1G), [GIB, 2 * GIB]);
    let large = frames_of(&plan, PageSize::Large2M);
    assert!(large.iter().any(|&p| p >= 4 * GIB));
    assert!(large.iter().all(|&p| !(3 * GIB..4 * GIB).contains(&p)));
    assert!(plan.totals.within_budget());
    // The ivshmem BAR's neighbourhood is a device untyped, never pool.
    assert!(plan
        .devices
        .iter()
        .any(|d| d.paddr <= 0xfd00_0000 && 0xfd00_0000 < d.paddr + d.size()));
}

#[test]
fn fragmented_ram_still_gives_2m_frames() {
    let list = fixtures::fragmented();
    let plan = planned("fragmented", &list, &CONFIG);
    assert_eq!(plan.totals.huge.count, 0);
    assert!(plan.totals.large.count > 200);
    // Plenty of small pieces: the reserve needs no large untyped, the rest
    // of the small ones is unusable.
    assert!(plan.steps.iter().all(|s| matches!(s, Step::Frames { .. })));
    assert!(plan.totals.unusable.below_large_page > 0);
}

#[test]
fn shattered_ram_has_no_large_frame() {
    let list = fixtures::shattered();
    assert_eq!(
        plan(&list, &CONFIG),
        Err(PlanError::NoLargeFrame {
            ram_bytes: 64 * MIB,
            largest_bits: 20
        })
    );
}

#[test]
fn little_ram_32m() {
    let list = fixtures::qemu_32m();
    let plan = planned("32 MiB", &list, &CONFIG);
    assert!(plan.totals.large.count >= 4);
    assert!(plan.totals.overhead_x100 > 4000);
    assert!(matches!(
        plan_strict(&list, &CONFIG),
        Err(PlanError::OverBudget { .. })
    ));
    let greedy = PlanConfig {
        reserve_bytes: 31 * MIB,
        ..CONFIG
    };
    let have = fixtures::ram_bytes(&list);
    assert_eq!(
        crate::plan(&list, &greedy),
        Err(PlanError::NotEnoughRam {
            need: 33 * MIB,
            have
        })
    );
}

#[test]
fn devices_only_is_not_enough_ram() {
    let list = fixtures::devices_only();
    assert_eq!(
        plan(&list, &CONFIG),
        Err(PlanError::NotEnoughRam {
            need: 18 * MIB,
            have: 0
        })
    );
}

#[test]
fn single_8g_untyped_is_carved_at_its_front() {
    let list = fixtures::single_8g();
    let plan = planned("single 2^33", &list, &CONFIG);
    let base = 8 * GIB;
    assert_eq!(
        plan.steps[0],
        Step::Split {
            untyped: UntypedRef::Boot(0),
            child_bits: 24,
            count: 1
        }
    );
    assert_eq!(plan.reserve.len(), 1);
    assert_eq!(plan.reserve[0].paddr, base);
    // 16 MiB reserve, 504 2 MiB frames to the first 1 GiB boundary (two
    // retypes under the fan-out limit), then 7 1 GiB frames.
    assert_eq!(plan.totals.large.count, 504);
    let counts: Vec<u32> = plan.steps.iter().map(Step::count).collect();
    assert_eq!(counts, [1, 256, 248, 7]);
    assert_eq!(
        frames_of(&plan, PageSize::Huge1G),
        (1..8).map(|g| base + g * GIB).collect::<Vec<_>>()
    );
    assert!(plan.totals.within_budget());
}

#[test]
fn odd_reserve_is_split_one_child_per_bit_largest_first() {
    let list = fixtures::single_8g();
    let config = PlanConfig {
        reserve_bytes: 13 * MIB + 5,
        ..CONFIG
    };
    let plan = planned("single 2^33, 13 MiB reserve", &list, &config);
    let splits: Vec<(u8, u64)> = plan
        .reserve
        .iter()
        .map(|b| (b.size_bits, b.paddr))
        .collect();
    let base = 8 * GIB;
    assert_eq!(
        splits,
        [(23, base), (22, base + 8 * MIB), (21, base + 12 * MIB)]
    );
    assert_eq!(plan.totals.reserve_bytes, 14 * MIB);
    let no_huge = PlanConfig {
        allow_huge: false,
        ..config
    };
    let flat = planned("single 2^33, no 1 GiB", &list, &no_huge);
    assert_eq!(flat.totals.large.count, 4096 - 7);
}

#[test]
fn zero_reserve_leaves_small_pieces_unusable() {
    let list = fixtures::qemu_512m();
    let config = PlanConfig {
        reserve_bytes: 0,
        ..CONFIG
    };
    let plan = planned("512 MiB, no reserve", &list, &config);
    assert!(plan.reserve.is_empty());
    assert!(!plan.unusable.is_empty());
}

#[test]
fn reserve_covered_by_small_pieces_exactly() {
    let list: Vec<Untyped> = [(0x10_0000u64, 20u8), (0x20_0000, 20), (0x40_0000, 22)]
        .iter()
        .enumerate()
        .map(|(index, &(paddr, size_bits))| Untyped {
            index,
            paddr,
            size_bits,
            is_device: false,
        })
        .collect();
    let config = PlanConfig {
        reserve_bytes: MIB,
        ..CONFIG
    };
    let plan = planned("tiny", &list, &config);
    assert_eq!(plan.reserve.len(), 1);
    assert_eq!(plan.unusable.len(), 1);
    assert_eq!(plan.totals.large.count, 2);
}

#[test]
fn input_order_does_not_matter() {
    let list = fixtures::qemu_4g();
    let mut reversed = list.clone();
    reversed.reverse();
    assert_eq!(plan(&list, &CONFIG), plan(&reversed, &CONFIG));
}

#[test]
fn bad_input_is_an_error() {
    let ut = |index, paddr, size_bits| Untyped {
        index,
        paddr,
        size_bits,
        is_device: false,
    };
    let bad = |index, problem| Err(PlanError::BadUntyped { index, problem });
    assert_eq!(
        plan(&[ut(3, 0x1000, 3)], &CONFIG),
        bad(3, UntypedProblem::SizeBits(3))
    );
    assert_eq!(
        plan(&[ut(4, 0, 48)], &CONFIG),
        bad(4, UntypedProblem::SizeBits(48))
    );
    assert_eq!(
        plan(&[ut(5, 0x30_0000, 21)], &CONFIG),
        bad(5, UntypedProblem::Misaligned)
    );
    assert_eq!(
        plan(&[ut(6, u64::MAX - (1 << 47) + 1, 47)], &CONFIG),
        bad(6, UntypedProblem::PastPhysicalLimit)
    );
    assert_eq!(
        plan(&[ut(0, 0x40_0000, 22), ut(1, 0x60_0000, 21)], &CONFIG),
        Err(PlanError::Overlap { index: 0, other: 1 })
    );
    assert_eq!(
        plan(&[ut(2, 0x40_0000, 22), ut(2, 0x80_0000, 22)], &CONFIG),
        bad(2, UntypedProblem::DuplicateIndex)
    );
    let guest = PlanConfig {
        guest_ram_bytes: Some(GIB),
        ..CONFIG
    };
    assert_eq!(
        plan(&fixtures::machine_2g(), &guest),
        Err(PlanError::GuestRamBelowUntypeds {
            guest_ram_bytes: GIB,
            untyped_ram_bytes: fixtures::ram_bytes(&fixtures::machine_2g())
        })
    );
    let absurd = PlanConfig {
        reserve_bytes: u64::MAX,
        ..CONFIG
    };
    assert!(matches!(
        plan(&fixtures::single_8g(), &absurd),
        Err(PlanError::NotEnoughRam { need: u64::MAX, .. })
    ));
}

#[test]
fn randomised_machines_keep_the_invariants() {
    let mut rng = Rng(0x5eed_1e55_c0ff_ee00);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..400 {
        let list = fixtures::random_machine(&mut rng);
        let config = PlanConfig {
            reserve_bytes: rng.below(64 * MIB),
            max_overhead_percent: rng.below(10) as u32,
            allow_huge: rng.below(2) == 0,
            guest_ram_bytes: None,
        };
        let ram = fixtures::ram_bytes(&list);
        match plan(&list, &config) {
            Ok(p) => {
                check(&p, &list, &config);
                ok += 1;
            }
            Err(PlanError::NotEnoughRam { need, have }) => {
                assert!(have < need && have == ram);
                refused += 1;
            }
            Err(PlanError::NoLargeFrame { .. }) => {
                assert!(list.iter().all(|u| u.is_device || u.size() < LARGE));
                refused += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(ok > 200 && refused > 0, "{ok} planned, {refused} refused");
}

#[test]
fn the_model_catches_padding_and_overruns() {
    // 1 GiB frame before the 2 MiB ones in a carved untyped: the kernel
    // would skip to the next gigabyte.
    let list = fixtures::single_8g();
    let mut sim = Sim::new(&list);
    let u = UntypedRef::Boot(0);
    let steps = [
        Step::Split {
            untyped: u,
            child_bits: 24,
            count: 1,
        },
        Step::Frames {
            untyped: u,
            page: PageSize::Huge1G,
            count: 7,
        },
    ];
    sim.run(&steps).unwrap();
    assert_eq!(sim.padding, GIB - 16 * MIB);
    let mut sim = Sim::new(&list);
    let eight = Step::Frames {
        untyped: u,
        page: PageSize::Huge1G,
        count: 8,
    };
    assert_eq!(
        sim.run(&[steps[0], eight]),
        Err(SimError::NotEnoughMemory { step: 1 })
    );
    let too_many = Step::Frames {
        untyped: u,
        page: PageSize::Large2M,
        count: 257,
    };
    assert_eq!(
        Sim::new(&list).run(&[too_many]),
        Err(SimError::BadCount {
            step: 0,
            count: 257
        })
    );
}

#[test]
fn errors_display() {
    let text = PlanError::OverBudget { percent_x100: 314 }.to_string();
    assert!(text.contains("3.14%"), "{text}");
    let text = PlanError::NotEnoughRam {
        need: 18 * MIB,
        have: 0,
    }
    .to_string();
    assert!(text.contains("0x1200000"), "{text}");
}
