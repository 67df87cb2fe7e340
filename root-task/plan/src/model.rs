//! The planner's input (the bootinfo's untyped list and a configuration) and
//! its output (the [`Plan`]: steps, reserve, pool, unusable memory, totals).
//!
//! All types are plain data so the root task can walk them, print them and
//! record them in its capDL model without calling back into the planner.

use alloc::vec::Vec;

/// `seL4_LargePageBits` on x86_64: a 2 MiB frame.
pub const LARGE_PAGE_BITS: u8 = 21;
/// `seL4_HugePageBits` on x86_64: a 1 GiB frame (kernel built with `HUGE_PAGE`).
pub const HUGE_PAGE_BITS: u8 = 30;
/// `seL4_MinUntypedBits`: the smallest untyped the kernel hands out or retypes.
pub const MIN_UNTYPED_BITS: u8 = 4;
/// `seL4_MaxUntypedBits` on x86_64.
pub const MAX_UNTYPED_BITS: u8 = 47;
/// The kernel's default `RETYPE_FAN_OUT_LIMIT`: the most objects one
/// `Untyped_Retype` may create. Longer runs are cut into several steps.
pub const RETYPE_FAN_OUT_LIMIT: u32 = 256;
/// x86-64 physical addresses have at most 52 bits; an untyped ending above
/// that is corrupt input.
pub const PHYS_ADDR_LIMIT: u64 = 1 << 52;

/// One entry of the bootinfo's untyped list, as the root task reads it.
///
/// seL4 hands out untypeds that are powers of two in size and naturally
/// aligned; the planner checks that rather than trusting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Untyped {
    /// Position in the bootinfo list, i.e. the offset of the cap from the
    /// bootinfo's `untyped.start` slot. Steps name untypeds by this index.
    pub index: usize,
    /// Physical base address.
    pub paddr: u64,
    /// log2 of the size in bytes (4..=47).
    pub size_bits: u8,
    /// Device memory (MMIO, e.g. the ivshmem BAR): never pool, never reserve.
    pub is_device: bool,
}

impl Untyped {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        1 << self.size_bits
    }
}

/// What the caller wants from the carving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanConfig {
    /// RAM to keep as untypeds for kernel objects (TCBs, CNodes, page tables,
    /// endpoints, the personality's image frames), e.g. 16 MiB. Rounded up
    /// to 2 MiB where it has to come out of large-page-capable untypeds.
    pub reserve_bytes: u64,
    /// Budget for (reserve + unusable) / RAM, in percent (e.g. 3).
    pub max_overhead_percent: u32,
    /// The kernel has `HUGE_PAGE` (1 GiB frames); without it every frame is
    /// 2 MiB.
    pub allow_huge: bool,
    /// The machine's configured RAM (QEMU `-m`), if known. The part of it
    /// missing from the untyped list (kernel image, root task, boot
    /// structures, firmware areas) is then reported as unusable and the
    /// overhead is measured against it instead of against the untypeds.
    pub guest_ram_bytes: Option<u64>,
}

impl PlanConfig {
    /// The defaults of the design: 16 MiB reserve, 3 % budget, 1 GiB frames.
    pub const DEFAULT: PlanConfig = PlanConfig {
        reserve_bytes: 16 << 20,
        max_overhead_percent: 3,
        allow_huge: true,
        guest_ram_bytes: None,
    };
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The frame sizes of the pool. 4 KiB frames never come from the pool: the
/// personality's small mappings come out of the reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageSize {
    /// 1 GiB (`seL4_X64_HugePageObject`).
    Huge1G,
    /// 2 MiB (`seL4_X86_LargePageObject`).
    Large2M,
}

impl PageSize {
    /// log2 of the size in bytes.
    pub const fn bits(self) -> u8 {
        match self {
            PageSize::Huge1G => HUGE_PAGE_BITS,
            PageSize::Large2M => LARGE_PAGE_BITS,
        }
    }

    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        1 << self.bits()
    }

    /// Short name for tables: `1G`, `2M`.
    pub const fn label(self) -> &'static str {
        match self {
            PageSize::Huge1G => "1G",
            PageSize::Large2M => "2M",
        }
    }
}

/// An untyped cap the steps operate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UntypedRef {
    /// A bootinfo untyped, by its [`Untyped::index`].
    Boot(usize),
    /// The n-th child untyped created by this plan's [`Step::Split`]s,
    /// counting from 0 across all splits in step order. The root task keeps
    /// the children's caps in a list in creation order; `n` indexes it.
    Child(usize),
}

/// One `Untyped_Retype` invocation. The root task executes the steps in
/// order; each creates `count` objects in `count` consecutive fresh slots.
///
/// Every step allocates at its untyped's watermark exactly: the planner
/// orders sizes so that the watermark is already aligned to the object size
/// (seL4 would otherwise skip to the next aligned offset and lose the gap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Retype `untyped` into `count` child untypeds of `2^child_bits` bytes
    /// (`seL4_UntypedObject`, size_bits = `child_bits`). The children get the
    /// next [`UntypedRef::Child`] numbers.
    Split {
        /// The parent.
        untyped: UntypedRef,
        /// log2 of each child's size.
        child_bits: u8,
        /// How many children.
        count: u32,
    },
    /// Retype `untyped` into `count` frames of `page` size for the pool.
    Frames {
        /// The untyped the frames come from.
        untyped: UntypedRef,
        /// Frame size.
        page: PageSize,
        /// How many frames (at most [`RETYPE_FAN_OUT_LIMIT`]).
        count: u32,
    },
}

impl Step {
    /// The untyped this step retypes.
    pub fn untyped(&self) -> UntypedRef {
        match *self {
            Step::Split { untyped, .. } | Step::Frames { untyped, .. } => untyped,
        }
    }

    /// How many new caps (and CNode slots) the step creates.
    pub fn count(&self) -> u32 {
        match *self {
            Step::Split { count, .. } | Step::Frames { count, .. } => count,
        }
    }
}

/// A naturally aligned block of RAM held by one untyped cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// The cap that holds it: a whole bootinfo untyped, or a split child.
    pub untyped: UntypedRef,
    /// Physical base address.
    pub paddr: u64,
    /// log2 of the size in bytes.
    pub size_bits: u8,
}

impl Block {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        1 << self.size_bits
    }
}

/// One frame of the LWK memory pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Physical base address (aligned to the frame size).
    pub paddr: u64,
    /// Frame size.
    pub page: PageSize,
    /// Index into [`Plan::steps`] of the [`Step::Frames`] that creates it.
    pub step: usize,
}

/// Why RAM is neither reserve nor pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnusableReason {
    /// A RAM untyped smaller than 2 MiB that the reserve did not need: it
    /// can hold no pool frame.
    BelowLargePage,
    /// Guest RAM that is not in the untyped list at all (kernel image, root
    /// task image, boot structures, firmware and ACPI areas). Known only
    /// when [`PlanConfig::guest_ram_bytes`] is given; it has no address.
    OutsideUntypeds,
}

/// Unusable bytes by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnusableTotals {
    /// See [`UnusableReason::BelowLargePage`].
    pub below_large_page: u64,
    /// See [`UnusableReason::OutsideUntypeds`].
    pub outside_untypeds: u64,
}

impl UnusableTotals {
    /// All unusable bytes.
    pub fn total(&self) -> u64 {
        self.below_large_page + self.outside_untypeds
    }

    /// The bytes for one reason.
    pub fn get(&self, reason: UnusableReason) -> u64 {
        match reason {
            UnusableReason::BelowLargePage => self.below_large_page,
            UnusableReason::OutsideUntypeds => self.outside_untypeds,
        }
    }
}

/// Count and bytes of one frame size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageTotals {
    /// Number of frames.
    pub count: u64,
    /// Bytes in them.
    pub bytes: u64,
}

/// The plan's accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// RAM in the untyped list.
    pub ram_bytes: u64,
    /// Number of RAM untypeds.
    pub ram_untypeds: usize,
    /// The overhead's denominator: the guest RAM if configured, else
    /// [`Totals::ram_bytes`].
    pub counted_ram_bytes: u64,
    /// 1 GiB frames.
    pub huge: PageTotals,
    /// 2 MiB frames.
    pub large: PageTotals,
    /// The reserve asked for.
    pub reserve_wanted: u64,
    /// The reserve planned: at least the wanted bytes, over by less than
    /// 2 MiB (the last small untyped taken, or the rounding to 2 MiB).
    pub reserve_bytes: u64,
    /// Unusable RAM by reason.
    pub unusable: UnusableTotals,
    /// Device untypeds (MMIO): count.
    pub device_untypeds: usize,
    /// Device untypeds: bytes (saturating; they may cover 2^47).
    pub device_bytes: u64,
    /// (reserve + unusable) / counted RAM, in hundredths of a percent,
    /// rounded up.
    pub overhead_x100: u32,
    /// [`PlanConfig::max_overhead_percent`] in hundredths of a percent.
    pub budget_x100: u32,
    /// New caps (CNode slots) the steps create: split children plus frames.
    pub new_caps: u64,
}

impl Totals {
    /// Bytes in the pool.
    pub fn pool_bytes(&self) -> u64 {
        self.huge.bytes + self.large.bytes
    }

    /// Count and bytes of one frame size.
    pub fn page(&self, page: PageSize) -> PageTotals {
        match page {
            PageSize::Huge1G => self.huge,
            PageSize::Large2M => self.large,
        }
    }

    /// The overhead stays within the configured budget.
    pub fn within_budget(&self) -> bool {
        self.overhead_x100 <= self.budget_x100
    }
}

/// The carving plan: what the root task does with every RAM untyped.
///
/// Every byte of RAM in the untyped list is in exactly one of
/// [`reserve`](Plan::reserve), [`pool`](Plan::pool) and
/// [`unusable`](Plan::unusable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The `Untyped_Retype` invocations, to execute literally and in order
    /// before anything else is retyped from a RAM untyped.
    pub steps: Vec<Step>,
    /// Untypeds kept for kernel objects, by physical address.
    pub reserve: Vec<Block>,
    /// The LWK memory pool, by physical address.
    pub pool: Vec<Frame>,
    /// RAM untypeds below 2 MiB that the reserve did not take, by physical
    /// address (all [`UnusableReason::BelowLargePage`]).
    pub unusable: Vec<Block>,
    /// Device untypeds (MMIO), by physical address. Never pool: the root task
    /// maps from them only what it finds there (e.g. the ivshmem BAR).
    pub devices: Vec<Untyped>,
    /// The accounting.
    pub totals: Totals,
}
