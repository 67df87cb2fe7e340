//! The LWK memory policy, as pure logic over an abstract [`Backing`].
//!
//! Policy (ARCHITECTURE.md, "Memory policy"): no demand paging. Every byte
//! of a mapping is backed by a frame and mapped when the call that creates
//! it returns, so a run takes no page fault; a VM fault is an error, and
//! [`AddressSpace::populated`] lets the trap handler say which kind.
//! Anonymous memory, brk and stacks use 2 MiB pages (1 GiB where a request
//! covers a whole aligned gigabyte); ELF segments use 4 KiB pages where
//! their permissions change inside 2 MiB.
//!
//! Consequences, all deliberate:
//! - VMAs keep Linux's 4 KiB granularity (what the application asked for),
//!   pages are 2 MiB: an `mmap` of 4 KiB takes a whole 2 MiB page of the
//!   pool, and mappings placed by the kernel never share a page, so each
//!   is freed whole.
//! - A page lives while any backed mapping has a byte in it: `munmap` of
//!   part of a 2 MiB page keeps the page until its last byte is unmapped.
//! - A page is mapped with the union of the rights of the mappings on it:
//!   `mprotect` of part of a 2 MiB page succeeds, and the page keeps the
//!   rights its other bytes need (a guard page inside a 2 MiB stack page is
//!   not a trap). 4 KiB image pages are protected exactly.
//! - `PROT_NONE` mappings are reservations, not backed until made
//!   accessible (`mprotect`), because libcs reserve large regions that way
//!   (glibc arenas: 64 MiB each). Touching one faults, as on Linux.
//! - Bytes that become part of a mapping read as zero, whether the page is
//!   fresh (zeroed on allocation) or reused (zeroed in place).
//! - Out of pool → `ENOMEM`, never a panic; a failing call leaves no frame
//!   behind.

mod backing;
mod pages;
mod remap;
mod space;
mod user;
mod vma;

pub use backing::{Backing, Frame, MapFail, PageSize, Prot};
pub use pages::{Page, PageMap};
pub use space::{AddressSpace, Layout, MapRequest, Placement, Remap};
pub use user::{Access, PhysRuns};
pub use vma::{Vma, VmaKind, VmaSet};

use crate::loader::elf::{MIN_USER_ADDR, USER_END};
use crate::syscall::{Errno, JobFault, SysError};
use core::fmt;

/// 4 KiB.
const SMALL: u64 = PageSize::Small4K.bytes();
/// 2 MiB.
const LARGE: u64 = PageSize::Large2M.bytes();

/// Why a memory operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmError {
    /// The pool is exhausted, there is no room for the mapping, or the
    /// backing lacks memory for paging structures (`ENOMEM`).
    NoMemory,
    /// Bad arguments: misaligned, empty, out of the user range (`EINVAL`).
    Invalid,
    /// Below the lowest address a mapping may use (`EPERM`, as Linux answers
    /// for `mmap_min_addr`).
    Denied,
    /// `MAP_FIXED_NOREPLACE` on a range in use (`EEXIST`).
    Exists,
    /// Part of the range is not mapped (`ENOMEM`, Linux's answer for
    /// `mprotect`, `madvise`).
    Unmapped,
    /// `mremap` of a range that is not one mapping (`EFAULT`).
    Fault,
    /// The backing refused to change a mapping that exists: the VSpace and
    /// the bookkeeping may disagree, so the job ends.
    Backing(MapFail),
}

impl MmError {
    /// The error number the application sees, or `None` if the job ends.
    pub const fn errno(self) -> Option<Errno> {
        match self {
            MmError::NoMemory | MmError::Unmapped => Some(Errno::ENOMEM),
            MmError::Invalid => Some(Errno::EINVAL),
            MmError::Denied => Some(Errno::EPERM),
            MmError::Exists => Some(Errno::EEXIST),
            MmError::Fault => Some(Errno::EFAULT),
            MmError::Backing(_) => None,
        }
    }
}

impl fmt::Display for MmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmError::Backing(e) => write!(f, "memory backing failed: {e}"),
            other => match other.errno() {
                Some(e) => write!(f, "{e}"),
                None => Ok(()),
            },
        }
    }
}

impl core::error::Error for MmError {}

impl From<MmError> for SysError {
    fn from(e: MmError) -> Self {
        match e {
            MmError::Backing(fail) => SysError::Kill(JobFault::Mapping(fail)),
            other => SysError::Errno(other.errno().unwrap_or(Errno::ENOMEM)),
        }
    }
}

/// Whether `range` is a valid user range start and end.
const fn in_user_space(start: u64, end: u64) -> bool {
    start >= MIN_USER_ADDR && start < end && end <= USER_END
}
