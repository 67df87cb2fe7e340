//! Why there is no plan.

use core::fmt;

/// What is wrong with one entry of the untyped list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UntypedProblem {
    /// `size_bits` outside `MIN_UNTYPED_BITS..=MAX_UNTYPED_BITS`.
    SizeBits(u8),
    /// `paddr` is not a multiple of the size.
    Misaligned,
    /// The untyped ends beyond the 52-bit physical address space.
    PastPhysicalLimit,
    /// Another untyped has the same index: steps could not name it.
    DuplicateIndex,
}

/// Why the planner refuses. Every variant is a property of the input: the
/// planner itself never panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanError {
    /// RAM cannot cover the reserve plus one 2 MiB frame. `need` is
    /// reserve + 2 MiB, `have` the RAM in the untyped list.
    NotEnoughRam {
        /// Bytes needed.
        need: u64,
        /// RAM bytes in the untyped list.
        have: u64,
    },
    /// There is enough RAM, but no RAM untyped is large enough for a 2 MiB
    /// frame.
    NoLargeFrame {
        /// RAM bytes in the untyped list.
        ram_bytes: u64,
        /// log2 of the largest RAM untyped.
        largest_bits: u8,
    },
    /// Strict mode only: (reserve + unusable) exceeds the budget.
    OverBudget {
        /// The overhead in hundredths of a percent.
        percent_x100: u32,
    },
    /// An untyped that seL4 could not have handed out.
    BadUntyped {
        /// Its index.
        index: usize,
        /// What is wrong.
        problem: UntypedProblem,
    },
    /// Two untypeds share memory.
    Overlap {
        /// The lower one's index.
        index: usize,
        /// The index of the one it overlaps.
        other: usize,
    },
    /// [`PlanConfig::guest_ram_bytes`](crate::PlanConfig::guest_ram_bytes)
    /// is smaller than the RAM in the untyped list: the configuration does
    /// not describe this machine.
    GuestRamBelowUntypeds {
        /// Configured guest RAM.
        guest_ram_bytes: u64,
        /// RAM in the untyped list.
        untyped_ram_bytes: u64,
    },
}

impl fmt::Display for UntypedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UntypedProblem::SizeBits(bits) => write!(f, "size 2^{bits} out of range"),
            UntypedProblem::Misaligned => f.write_str("not aligned to its size"),
            UntypedProblem::PastPhysicalLimit => f.write_str("ends past the 52-bit address space"),
            UntypedProblem::DuplicateIndex => f.write_str("index used twice"),
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PlanError::NotEnoughRam { need, have } => write!(
                f,
                "not enough RAM: need {need:#x} bytes (reserve + one 2 MiB frame), have {have:#x}"
            ),
            PlanError::NoLargeFrame {
                ram_bytes,
                largest_bits,
            } => write!(
                f,
                "RAM too fragmented: {ram_bytes:#x} bytes, largest untyped 2^{largest_bits}, \
                 none holds a 2 MiB frame"
            ),
            PlanError::OverBudget { percent_x100 } => write!(
                f,
                "overhead {}.{:02}% exceeds max_overhead_percent",
                percent_x100 / 100,
                percent_x100 % 100
            ),
            PlanError::BadUntyped { index, problem } => {
                write!(f, "untyped {index}: {problem}")
            }
            PlanError::Overlap { index, other } => {
                write!(f, "untyped {index} overlaps untyped {other}")
            }
            PlanError::GuestRamBelowUntypeds {
                guest_ram_bytes,
                untyped_ram_bytes,
            } => write!(
                f,
                "guest RAM {guest_ram_bytes:#x} is less than the untypeds' RAM {untyped_ram_bytes:#x}"
            ),
        }
    }
}

impl core::error::Error for PlanError {}
