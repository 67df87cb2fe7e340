//! The root task's carving planner: from the bootinfo's untyped list to a
//! kernel-object reserve, the LWK memory pool of 1 GiB / 2 MiB frames, and
//! the exact `Untyped_Retype` invocations that produce them.
//!
//! A lightweight kernel never demand-pages: the personality backs every
//! mapping at once with large pages from a fixed pool. This crate decides
//! that pool. It is pure (no seL4 calls, no dependencies) so that the
//! decision is tested on the host against recorded and adversarial untyped
//! lists, and the root task only replays it.
//!
//! # Input
//!
//! The whole untyped list ([`Untyped`]: index, paddr, size_bits, is_device)
//! and a [`PlanConfig`] (reserve wanted, overhead budget, whether 1 GiB
//! frames exist, optionally the machine's RAM size). seL4 untypeds are
//! powers of two, naturally aligned; the planner checks that, and that they
//! are disjoint, and fails with [`PlanError`] otherwise.
//!
//! # Algorithm
//!
//! 1. **Reserve, smallest first.** RAM untypeds below 2 MiB can never hold a
//!    pool frame, so the reserve takes them first, smallest first, until it
//!    has [`PlanConfig::reserve_bytes`]. Those it does not need are
//!    *unusable* ([`UnusableReason::BelowLargePage`]).
//! 2. **Then from 2 MiB-capable untypeds, still smallest first.** If the
//!    small ones fall short, the missing amount is rounded up to 2 MiB and
//!    taken from the larger untypeds in ascending size (1 GiB-capable ones
//!    last, so 1 GiB frames survive): whole untypeds while they fit, and the
//!    remainder carved off the *front* of the next one by
//!    [`Step::Split`]s — one child untyped per set bit of the remainder,
//!    largest first. The pool thus loses exactly the missing bytes rounded
//!    to 2 MiB, the least any plan can lose.
//! 3. **Pool.** Every other byte of a 2 MiB-capable untyped becomes frames:
//!    1 GiB frames for each 1 GiB-aligned gigabyte when
//!    [`PlanConfig::allow_huge`], 2 MiB frames for the rest. In a carved
//!    untyped the watermark after the reserve children is 2 MiB- but not
//!    necessarily 1 GiB-aligned, so 2 MiB frames fill up to the first 1 GiB
//!    boundary and the 1 GiB frames follow.
//! 4. **Accounting.** Totals per frame size, reserve, unusable bytes by
//!    reason (with [`PlanConfig::guest_ram_bytes`], RAM missing from the
//!    untyped list — kernel, root task, boot structures, firmware — is
//!    [`UnusableReason::OutsideUntypeds`]) and the overhead
//!    (reserve + unusable) / RAM against [`PlanConfig::max_overhead_percent`].
//!    [`plan`] reports it; [`plan_strict`] refuses it with
//!    [`PlanError::OverBudget`].
//!
//! RAM must cover the reserve plus one 2 MiB frame
//! ([`PlanError::NotEnoughRam`]) and some RAM untyped must hold a 2 MiB
//! frame ([`PlanError::NoLargeFrame`]). Device untypeds (MMIO such as the
//! ivshmem BAR) are listed in [`Plan::devices`] and never planned.
//!
//! # Step semantics
//!
//! [`Plan::steps`] is a list of `Untyped_Retype` invocations to execute
//! literally, in order, **before anything else is retyped from a RAM
//! untyped** (the plan assumes every RAM untyped is fresh: watermark 0).
//!
//! - [`Step::Split`] `{ untyped, child_bits, count }`: retype `untyped` into
//!   `count` `seL4_UntypedObject`s of size_bits `child_bits`. The children
//!   are numbered [`UntypedRef::Child`]`(0)`, `(1)`, … in creation order
//!   across the whole plan; the root task appends their caps to a list and
//!   indexes it by that number. All children end up in [`Plan::reserve`].
//! - [`Step::Frames`] `{ untyped, page, count }`: retype `untyped` into
//!   `count` frames (`seL4_X64_HugePageObject` for [`PageSize::Huge1G`],
//!   `seL4_X86_LargePageObject` for [`PageSize::Large2M`]). Their physical
//!   addresses are the [`Frame`]s of [`Plan::pool`] whose `step` is this
//!   step's index, in order.
//! - [`UntypedRef::Boot`]`(i)` is the bootinfo untyped with index `i` (cap
//!   slot `untyped.start + i`).
//!
//! seL4 allocates inside an untyped sequentially: each retype starts at the
//! watermark rounded up to the object size. The planner orders the steps of
//! an untyped so the watermark is always already aligned — reserve children
//! largest first from offset 0, then 2 MiB frames up to a 1 GiB boundary,
//! then 1 GiB frames — so no retype skips memory and the frames land exactly
//! at the planned addresses. No step creates more than
//! [`RETYPE_FAN_OUT_LIMIT`] objects; [`Totals::new_caps`] says how many CNode
//! slots the plan needs.
//!
//! # Output
//!
//! [`Plan`]: steps, reserve blocks, pool frames (by physical address),
//! unusable blocks, device untypeds and [`Totals`]. Its `Display` is the
//! compact table the root task prints at boot.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod error;
mod model;
mod planner;
mod report;

pub use error::{PlanError, UntypedProblem};
pub use model::{
    Block, Frame, PageSize, PageTotals, Plan, PlanConfig, Step, Totals, Untyped, UntypedRef,
    UnusableReason, UnusableTotals, HUGE_PAGE_BITS, LARGE_PAGE_BITS, MAX_UNTYPED_BITS,
    MIN_UNTYPED_BITS, PHYS_ADDR_LIMIT, RETYPE_FAN_OUT_LIMIT,
};
pub use planner::{plan, plan_strict};

#[cfg(test)]
mod tests;
