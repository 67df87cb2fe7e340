//! What the memory manager needs from the machine: frames from the pool and
//! mappings in the application's VSpace.
//!
//! The seL4 binary implements [`Backing`] over the pool the root task handed
//! over (frame caps, the direct map, the application's PML4); tests implement
//! it over vectors. Everything above it — which frame backs which range, with
//! what rights — is decided in [`super::AddressSpace`], where the host can test
//! it.

use core::fmt;

/// Page sizes of x86_64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageSize {
    /// 4 KiB: only for ELF segments whose permissions change inside 2 MiB
    /// (and to fill a 2 MiB slot that such a segment already split).
    Small4K,
    /// 2 MiB: the LWK's default page.
    Large2M,
    /// 1 GiB: used where a request covers a whole aligned gigabyte.
    Huge1G,
}

impl PageSize {
    /// Every size, smallest first.
    pub const ALL: [PageSize; 3] = [PageSize::Small4K, PageSize::Large2M, PageSize::Huge1G];

    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Small4K => 1 << 12,
            PageSize::Large2M => 1 << 21,
            PageSize::Huge1G => 1 << 30,
        }
    }
}

/// Access rights, with Linux's `PROT_*` bit values.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Prot(u8);

impl Prot {
    /// `PROT_NONE`.
    pub const NONE: Prot = Prot(0);
    /// `PROT_READ`.
    pub const READ: Prot = Prot(1);
    /// `PROT_WRITE`.
    pub const WRITE: Prot = Prot(2);
    /// `PROT_EXEC`.
    pub const EXEC: Prot = Prot(4);
    /// Read and write: brk, stacks, most anonymous memory.
    pub const RW: Prot = Prot(3);
    /// Read and execute: text.
    pub const RX: Prot = Prot(5);
    /// Everything.
    pub const RWX: Prot = Prot(7);

    /// From `PROT_*` bits; `None` if a bit other than read, write and execute
    /// is set.
    pub const fn from_bits(bits: u64) -> Option<Prot> {
        if bits & !7 == 0 {
            Some(Prot(bits as u8))
        } else {
            None
        }
    }

    /// The `PROT_*` bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Rights of either.
    pub const fn union(self, other: Prot) -> Prot {
        Prot(self.0 | other.0)
    }

    /// Whether every right of `other` is in `self`.
    pub const fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }

    /// `PROT_NONE`: no access at all.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for Prot {
    /// `rw-`, as in `/proc/self/maps`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |p: Prot, c| if self.contains(p) { c } else { '-' };
        write!(
            f,
            "{}{}{}",
            flag(Prot::READ, 'r'),
            flag(Prot::WRITE, 'w'),
            flag(Prot::EXEC, 'x')
        )
    }
}

/// A frame owned by the memory manager. Not `Clone`: a frame has one owner,
/// from [`Backing::alloc_frame`] to [`Backing::free_frame`].
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// Physical address, aligned to `size` (pool frames are naturally
    /// aligned; the direct map reaches it at a fixed offset).
    pub paddr: u64,
    /// Its size.
    pub size: PageSize,
}

/// Why the backing could not install a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapFail {
    /// No memory for the paging structures the mapping needs: the call
    /// fails with `ENOMEM`.
    NoMemory,
    /// The kernel refused (already mapped, misaligned): the bookkeeping and
    /// the VSpace disagree, which ends the job.
    Refused,
}

impl fmt::Display for MapFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapFail::NoMemory => "no memory for paging structures",
            MapFail::Refused => "the kernel refused the mapping",
        })
    }
}

/// The machine under the memory manager.
///
/// Contract: frames are naturally aligned; every `vaddr` passed is aligned
/// to the frame's size; `map` is never called with [`Prot::NONE`] (an
/// inaccessible page stays allocated but unmapped — x86 page tables cannot
/// express "present, no access"), and `unmap`/`protect` only for frames the
/// manager has mapped at that address. The manager calls nothing else, so a
/// violation is a bug worth a panic in the implementation.
pub trait Backing {
    /// A free frame of `size` from the pool, or `None` when there is none
    /// (the call then fails with `ENOMEM`; smaller sizes may still be
    /// tried). Its contents are undefined: the manager zeroes it.
    fn alloc_frame(&mut self, size: PageSize) -> Option<Frame>;
    /// Returns an unmapped frame to the pool.
    fn free_frame(&mut self, frame: Frame);
    /// Maps `frame` at `vaddr` in the application's VSpace with `prot`.
    fn map(&mut self, frame: &Frame, vaddr: u64, prot: Prot) -> Result<(), MapFail>;
    /// Removes the mapping of `frame` at `vaddr`.
    fn unmap(&mut self, frame: &Frame, vaddr: u64);
    /// Changes the rights of the mapping of `frame` at `vaddr` (never to
    /// [`Prot::NONE`]: the manager unmaps instead).
    fn protect(&mut self, frame: &Frame, vaddr: u64, prot: Prot) -> Result<(), MapFail>;
    /// Zeroes `len` bytes of `frame` from `offset`, through the direct map.
    /// A range rather than the whole frame because Linux semantics often
    /// concern a part of a large page: `MADV_DONTNEED` of 4 KiB, or fresh
    /// bytes of a page that an earlier mapping left dirty.
    fn zero(&mut self, frame: &Frame, offset: u64, len: u64);
}
