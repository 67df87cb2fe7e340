//! The algorithm: validate, choose the reserve, then emit the steps untyped
//! by untyped in physical-address order. See the crate docs for the why.

use alloc::vec::Vec;

use crate::error::{PlanError, UntypedProblem};
use crate::model::{
    Block, Frame, PageSize, PageTotals, Plan, PlanConfig, Step, Totals, Untyped, UntypedRef,
    UnusableTotals, HUGE_PAGE_BITS, LARGE_PAGE_BITS, MAX_UNTYPED_BITS, MIN_UNTYPED_BITS,
    PHYS_ADDR_LIMIT, RETYPE_FAN_OUT_LIMIT,
};

const LARGE: u64 = 1 << LARGE_PAGE_BITS;
const HUGE: u64 = 1 << HUGE_PAGE_BITS;

/// Plans the carving of `untypeds` (the whole bootinfo list, RAM and device,
/// in any order). Over-budget overhead is only reported in
/// [`Totals::overhead_x100`]; use [`plan_strict`] to refuse it.
pub fn plan(untypeds: &[Untyped], config: &PlanConfig) -> Result<Plan, PlanError> {
    validate(untypeds)?;
    let mut ram: Vec<Untyped> = untypeds.iter().filter(|u| !u.is_device).copied().collect();
    let mut devices: Vec<Untyped> = untypeds.iter().filter(|u| u.is_device).copied().collect();
    ram.sort_by_key(|u| u.paddr);
    devices.sort_by_key(|u| u.paddr);

    // Validation bounds every untyped below 2^52 without overlaps, so these
    // sums cannot overflow.
    let ram_bytes: u64 = ram.iter().map(Untyped::size).sum();
    if let Some(guest) = config.guest_ram_bytes {
        if guest < ram_bytes {
            return Err(PlanError::GuestRamBelowUntypeds {
                guest_ram_bytes: guest,
                untyped_ram_bytes: ram_bytes,
            });
        }
    }
    let need = config.reserve_bytes.saturating_add(LARGE);
    if ram_bytes < need {
        return Err(PlanError::NotEnoughRam {
            need,
            have: ram_bytes,
        });
    }
    let largest_bits = ram.iter().map(|u| u.size_bits).max().unwrap_or(0);
    if largest_bits < LARGE_PAGE_BITS {
        return Err(PlanError::NoLargeFrame {
            ram_bytes,
            largest_bits,
        });
    }

    let roles = choose_reserve(&ram, config.reserve_bytes);
    let mut out = Emitter::new(config.allow_huge);
    for (u, role) in ram.iter().zip(&roles) {
        match *role {
            Role::Reserve => out.reserve.push(Block {
                untyped: UntypedRef::Boot(u.index),
                paddr: u.paddr,
                size_bits: u.size_bits,
            }),
            Role::Unusable => out.unusable.push(Block {
                untyped: UntypedRef::Boot(u.index),
                paddr: u.paddr,
                size_bits: u.size_bits,
            }),
            Role::Carve(bytes) => out.carve(u, bytes),
            Role::Pool => out.frames(UntypedRef::Boot(u.index), u.paddr, 0, u.size_bits),
        }
    }
    if out.pool.is_empty() {
        // Unreachable after the checks above (RAM ≥ reserve + 2 MiB with a
        // large untyped leaves one frame), kept so a mistake is an error.
        return Err(PlanError::NotEnoughRam {
            need,
            have: ram_bytes,
        });
    }

    let totals = account(&out, &ram, &devices, config, ram_bytes);
    Ok(Plan {
        steps: out.steps,
        reserve: out.reserve,
        pool: out.pool,
        unusable: out.unusable,
        devices,
        totals,
    })
}

/// [`plan`], but an overhead above [`PlanConfig::max_overhead_percent`] is
/// [`PlanError::OverBudget`].
pub fn plan_strict(untypeds: &[Untyped], config: &PlanConfig) -> Result<Plan, PlanError> {
    let plan = plan(untypeds, config)?;
    plan.check_budget()?;
    Ok(plan)
}

impl Plan {
    /// [`PlanError::OverBudget`] if the overhead exceeds the budget.
    pub fn check_budget(&self) -> Result<(), PlanError> {
        if self.totals.within_budget() {
            Ok(())
        } else {
            Err(PlanError::OverBudget {
                percent_x100: self.totals.overhead_x100,
            })
        }
    }
}

/// Rejects what seL4 cannot have produced, so the rest may rely on natural
/// alignment and on disjointness of RAM. Device untypeds are only listed,
/// never carved, and seL4 5.0 does hand out misaligned ones (seen: 2^40
/// bytes at 0x180_0000_0000 on a QEMU pc guest), so only their size is
/// checked.
fn validate(untypeds: &[Untyped]) -> Result<(), PlanError> {
    for u in untypeds.iter().filter(|u| u.is_device) {
        if !(MIN_UNTYPED_BITS..=MAX_UNTYPED_BITS).contains(&u.size_bits) {
            return Err(PlanError::BadUntyped {
                index: u.index,
                problem: UntypedProblem::SizeBits(u.size_bits),
            });
        }
    }
    for u in untypeds.iter().filter(|u| !u.is_device) {
        let bad = |problem| PlanError::BadUntyped {
            index: u.index,
            problem,
        };
        if !(MIN_UNTYPED_BITS..=MAX_UNTYPED_BITS).contains(&u.size_bits) {
            return Err(bad(UntypedProblem::SizeBits(u.size_bits)));
        }
        if u.paddr & (u.size() - 1) != 0 {
            return Err(bad(UntypedProblem::Misaligned));
        }
        if u.paddr >= PHYS_ADDR_LIMIT || PHYS_ADDR_LIMIT - u.paddr < u.size() {
            return Err(bad(UntypedProblem::PastPhysicalLimit));
        }
    }
    let mut indices: Vec<usize> = untypeds.iter().map(|u| u.index).collect();
    indices.sort_unstable();
    if let Some(pair) = indices.windows(2).find(|w| w[0] == w[1]) {
        return Err(PlanError::BadUntyped {
            index: pair[0],
            problem: UntypedProblem::DuplicateIndex,
        });
    }
    let mut by_addr: Vec<&Untyped> = untypeds.iter().filter(|u| !u.is_device).collect();
    by_addr.sort_by_key(|u| u.paddr);
    for pair in by_addr.windows(2) {
        if pair[0].paddr + pair[0].size() > pair[1].paddr {
            return Err(PlanError::Overlap {
                index: pair[0].index,
                other: pair[1].index,
            });
        }
    }
    Ok(())
}

/// What happens to one RAM untyped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Kept whole for kernel objects.
    Reserve,
    /// Its first `n` bytes (a multiple of 2 MiB) are split off into reserve
    /// children, the rest becomes pool frames.
    Carve(u64),
    /// All pool frames.
    Pool,
    /// Below 2 MiB and not needed by the reserve.
    Unusable,
}

/// Chooses the reserve, smallest untypeds first, and returns a role per
/// entry of `ram` (same order).
///
/// Untypeds below 2 MiB go first: they can never hold a pool frame, so every
/// byte of them the reserve uses is a byte the pool does not lose. Only when
/// they fall short does the reserve take 2 MiB-capable untypeds, still
/// smallest first (so 1 GiB-capable ones are touched last), whole while they
/// fit in what is missing, and finally carves the rest, rounded up to 2 MiB,
/// off the front of the next one. The pool then loses exactly the missing
/// bytes rounded to 2 MiB, which is the least any plan can lose.
fn choose_reserve(ram: &[Untyped], want: u64) -> Vec<Role> {
    let mut roles = alloc::vec![Role::Pool; ram.len()];
    let mut order: Vec<usize> = (0..ram.len()).collect();
    order.sort_by_key(|&i| (ram[i].size_bits, ram[i].paddr));
    let (small, large): (Vec<usize>, Vec<usize>) = order
        .into_iter()
        .partition(|&i| ram[i].size_bits < LARGE_PAGE_BITS);

    let mut got = 0u64;
    for i in small {
        roles[i] = if got < want {
            got += ram[i].size();
            Role::Reserve
        } else {
            Role::Unusable
        };
    }
    let mut missing = want.saturating_sub(got).next_multiple_of(LARGE);
    for i in large {
        if missing == 0 {
            break;
        }
        let size = ram[i].size();
        if size <= missing {
            roles[i] = Role::Reserve;
            missing -= size;
        } else {
            roles[i] = Role::Carve(missing);
            missing = 0;
        }
    }
    roles
}

/// Builds steps, reserve blocks and frames in execution order.
struct Emitter {
    allow_huge: bool,
    steps: Vec<Step>,
    reserve: Vec<Block>,
    pool: Vec<Frame>,
    unusable: Vec<Block>,
    next_child: usize,
}

impl Emitter {
    fn new(allow_huge: bool) -> Self {
        Emitter {
            allow_huge,
            steps: Vec::new(),
            reserve: Vec::new(),
            pool: Vec::new(),
            unusable: Vec::new(),
            next_child: 0,
        }
    }

    /// Splits `bytes` off the front of `u` as one child per set bit, largest
    /// first (each child then starts aligned to its size), and turns the
    /// rest into frames. One child per bit keeps the reserve in few caps and
    /// in pieces as large as possible (big CNodes need contiguous memory).
    fn carve(&mut self, u: &Untyped, bytes: u64) {
        let parent = UntypedRef::Boot(u.index);
        let mut offset = 0;
        for bits in (LARGE_PAGE_BITS..u.size_bits).rev() {
            if bytes & (1 << bits) == 0 {
                continue;
            }
            self.steps.push(Step::Split {
                untyped: parent,
                child_bits: bits,
                count: 1,
            });
            self.reserve.push(Block {
                untyped: UntypedRef::Child(self.next_child),
                paddr: u.paddr + offset,
                size_bits: bits,
            });
            self.next_child += 1;
            offset += 1 << bits;
        }
        self.frames(parent, u.paddr, offset, u.size_bits);
    }

    /// Pool frames for `[offset, 2^size_bits)` of an untyped at `paddr`:
    /// 2 MiB frames up to the first 1 GiB boundary, then 1 GiB frames. The
    /// small frames come first only when the watermark is not 1 GiB-aligned
    /// (after a carve); they fill the gap exactly, so no retype skips memory.
    fn frames(&mut self, untyped: UntypedRef, paddr: u64, offset: u64, size_bits: u8) {
        let end = 1u64 << size_bits;
        if self.allow_huge && size_bits >= HUGE_PAGE_BITS {
            let huge_start = offset.next_multiple_of(HUGE);
            self.run(
                untyped,
                PageSize::Large2M,
                paddr + offset,
                huge_start - offset,
            );
            self.run(
                untyped,
                PageSize::Huge1G,
                paddr + huge_start,
                end - huge_start,
            );
        } else {
            self.run(untyped, PageSize::Large2M, paddr + offset, end - offset);
        }
    }

    /// `bytes` of consecutive frames from `paddr`, in steps of at most the
    /// kernel's fan-out limit.
    fn run(&mut self, untyped: UntypedRef, page: PageSize, mut paddr: u64, bytes: u64) {
        let mut left = bytes >> page.bits();
        while left > 0 {
            let count = left.min(u64::from(RETYPE_FAN_OUT_LIMIT));
            let step = self.steps.len();
            self.steps.push(Step::Frames {
                untyped,
                page,
                // At most the fan-out limit, a u32.
                count: count as u32,
            });
            for _ in 0..count {
                self.pool.push(Frame { paddr, page, step });
                paddr += page.bytes();
            }
            left -= count;
        }
    }
}

/// The totals and the overhead share.
fn account(
    out: &Emitter,
    ram: &[Untyped],
    devices: &[Untyped],
    config: &PlanConfig,
    ram_bytes: u64,
) -> Totals {
    let page_totals = |page: PageSize| {
        let count = out.pool.iter().filter(|f| f.page == page).count() as u64;
        PageTotals {
            count,
            bytes: count * page.bytes(),
        }
    };
    let counted_ram_bytes = config.guest_ram_bytes.unwrap_or(ram_bytes);
    let unusable = UnusableTotals {
        below_large_page: out.unusable.iter().map(Block::size).sum(),
        outside_untypeds: counted_ram_bytes - ram_bytes,
    };
    let reserve_bytes: u64 = out.reserve.iter().map(Block::size).sum();
    let overhead = u128::from(reserve_bytes + unusable.total()) * 10_000;
    let overhead_x100 = overhead.div_ceil(u128::from(counted_ram_bytes));
    Totals {
        ram_bytes,
        ram_untypeds: ram.len(),
        counted_ram_bytes,
        huge: page_totals(PageSize::Huge1G),
        large: page_totals(PageSize::Large2M),
        reserve_wanted: config.reserve_bytes,
        reserve_bytes,
        unusable,
        device_untypeds: devices.len(),
        device_bytes: devices
            .iter()
            .fold(0u64, |sum, d| sum.saturating_add(d.size())),
        overhead_x100: u32::try_from(overhead_x100).unwrap_or(u32::MAX),
        budget_x100: config.max_overhead_percent.saturating_mul(100),
        new_caps: out.steps.iter().map(|s| u64::from(s.count())).sum(),
    }
}
