//! Host tests: a model of seL4's untyped allocator ([`sim`]), untyped lists
//! of realistic and awkward machines ([`fixtures`]), the invariants every
//! plan must satisfy ([`check`]), and the cases ([`cases`]).

mod cases;
mod fixtures;
mod sim;

use std::collections::BTreeSet;

use crate::{
    Plan, PlanConfig, Step, Untyped, UntypedRef, HUGE_PAGE_BITS, LARGE_PAGE_BITS,
    RETYPE_FAN_OUT_LIMIT,
};
use sim::Sim;

const LARGE: u64 = 1 << LARGE_PAGE_BITS;
const HUGE: u64 = 1 << HUGE_PAGE_BITS;

/// Checks every invariant of `plan` against its input. Panics (it is a
/// test) naming the first one broken.
fn check(plan: &Plan, untypeds: &[Untyped], config: &PlanConfig) {
    let ram: Vec<&Untyped> = untypeds.iter().filter(|u| !u.is_device).collect();
    let ram_bytes: u64 = ram.iter().map(|u| u.size()).sum();

    // Replaying the steps on the allocator model yields exactly the planned
    // frames and reserve children, wastes no byte to alignment and uses up
    // every untyped it touches.
    let mut sim = Sim::new(untypeds);
    sim.run(&plan.steps)
        .expect("steps replay on the allocator model");
    assert_eq!(sim.padding, 0, "a retype skipped memory to align");
    let planned: Vec<_> = plan
        .pool
        .iter()
        .map(|f| (f.paddr, f.page, f.step))
        .collect();
    assert_eq!(sim.frames, planned, "replayed frames differ from the plan");
    let children: Vec<_> = plan
        .reserve
        .iter()
        .filter(|b| matches!(b.untyped, UntypedRef::Child(_)))
        .map(|b| (b.untyped, b.paddr, b.size_bits))
        .collect();
    let mut replayed = sim.children.clone();
    replayed.sort_by_key(|c| c.1);
    assert_eq!(
        replayed, children,
        "replayed children differ from the reserve"
    );
    let touched: BTreeSet<UntypedRef> = plan.steps.iter().map(Step::untyped).collect();
    for r in &touched {
        let region = &sim.regions[r];
        assert!(matches!(r, UntypedRef::Boot(_)), "steps retype a child");
        assert_eq!(region.watermark, 1 << region.size_bits, "{r:?} not used up");
    }
    for b in plan.reserve.iter().chain(&plan.unusable) {
        assert!(!touched.contains(&b.untyped), "{b:?} is also retyped");
    }
    for s in &plan.steps {
        assert!((1..=RETYPE_FAN_OUT_LIMIT).contains(&s.count()), "{s:?}");
    }

    // Every RAM byte is in exactly one of reserve / pool / unusable: the
    // pieces are disjoint, each inside a RAM untyped, and add up to the RAM.
    let mut pieces: Vec<(u64, u64)> = plan
        .reserve
        .iter()
        .chain(&plan.unusable)
        .map(|b| (b.paddr, b.size()))
        .chain(plan.pool.iter().map(|f| (f.paddr, f.page.bytes())))
        .collect();
    pieces.sort_unstable();
    for w in pieces.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "pieces overlap: {w:x?}");
    }
    for &(paddr, size) in &pieces {
        assert!(paddr % size == 0, "piece {paddr:#x}/{size:#x} misaligned");
        assert!(
            ram.iter()
                .any(|u| u.paddr <= paddr && paddr + size <= u.paddr + u.size()),
            "piece {paddr:#x} outside RAM"
        );
    }
    assert_eq!(pieces.iter().map(|p| p.1).sum::<u64>(), ram_bytes);

    // Pool: sorted, naturally aligned; no 1 GiB frame missed where a whole
    // aligned gigabyte of an untyped went to the pool.
    assert!(plan.pool.windows(2).all(|w| w[0].paddr < w[1].paddr));
    if config.allow_huge {
        for u in ram.iter().filter(|u| u.size_bits >= HUGE_PAGE_BITS) {
            for gib in (u.paddr..u.paddr + u.size()).step_by(HUGE as usize) {
                let reserved = plan
                    .reserve
                    .iter()
                    .any(|b| b.paddr < gib + HUGE && gib < b.paddr + b.size());
                let huge = plan
                    .pool
                    .iter()
                    .any(|f| f.paddr == gib && f.page.bits() == 30);
                assert!(reserved || huge, "gigabyte {gib:#x} not a 1 GiB frame");
            }
        }
    } else {
        assert_eq!(plan.totals.huge.count, 0);
    }

    // Reserve and unusable: as much as wanted, less than 2 MiB over, the
    // pool losing only what it must; unusable pieces are all below 2 MiB.
    let t = &plan.totals;
    assert!(t.reserve_bytes >= config.reserve_bytes);
    assert!(t.reserve_bytes - config.reserve_bytes < LARGE);
    assert!(plan.unusable.iter().all(|b| b.size() < LARGE));
    let small: u64 = ram
        .iter()
        .filter(|u| u.size() < LARGE)
        .map(|u| u.size())
        .sum();
    let missing = config
        .reserve_bytes
        .saturating_sub(small)
        .next_multiple_of(LARGE);
    assert_eq!(
        t.pool_bytes(),
        ram_bytes - small - missing,
        "pool not maximal"
    );

    // Totals agree with the lists.
    assert_eq!(t.ram_bytes, ram_bytes);
    assert_eq!(t.ram_untypeds, ram.len());
    assert_eq!(t.huge.count + t.large.count, plan.pool.len() as u64);
    assert_eq!(t.reserve_bytes, plan.reserve.iter().map(|b| b.size()).sum());
    assert_eq!(
        t.unusable.below_large_page,
        plan.unusable.iter().map(|b| b.size()).sum()
    );
    assert_eq!(
        t.new_caps,
        (plan.pool.len() + sim.children.len()) as u64,
        "new caps"
    );
    let counted = config.guest_ram_bytes.unwrap_or(ram_bytes);
    assert_eq!(t.unusable.outside_untypeds, counted - ram_bytes);
    let x100 = (t.reserve_bytes + t.unusable.total()) as f64 * 1e4 / counted as f64;
    assert!((t.overhead_x100 as f64 - x100) < 1.0 && t.overhead_x100 as f64 >= x100);
    assert_eq!(plan.devices.len(), untypeds.len() - ram.len());

    // The boot summary stays short.
    let text = plan.to_string();
    assert!(text.lines().count() <= 10, "display too long:\n{text}");
}
