//! Memory calls: Linux's arguments decoded and checked in Linux's order,
//! then handed to the process's [`crate::mm::AddressSpace`]. The policy
//! (2 MiB pages, everything premapped, reservations, union of rights) is
//! described in [`crate::mm`].

use super::args::Args;
use super::errno::Errno;
use super::process::Process;
use super::{SysError, SysResult};
use crate::mm::{MapRequest, Placement, Prot, Remap, VmaKind};

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_32BIT: u64 = 0x40;
const MAP_GROWSDOWN: u64 = 0x100;
const MAP_STACK: u64 = 0x2_0000;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

const PROT_SEM: u64 = 0x8;
const PROT_GROWSDOWN: u64 = 0x0100_0000;
const PROT_GROWSUP: u64 = 0x0200_0000;

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const MREMAP_DONTUNMAP: u64 = 4;

/// Implements Linux `brk(2)`; local. Returns the break in effect, which is
/// the old one when the move is impossible, as Linux does.
pub fn brk(p: &mut dyn Process, args: Args) -> SysResult {
    let (space, backing) = p.mm();
    Ok(space.set_brk(backing, args.raw(0))?)
}

/// Implements Linux `mmap(2)` for anonymous memory; local. File mappings
/// are `ENODEV` until files come from the Linux side. `MAP_SHARED`
/// anonymous memory is private memory here: a job never forks, so nobody
/// could share it. `MAP_POPULATE`, `MAP_NORESERVE`, `MAP_LOCKED` and
/// `MAP_HUGETLB` change nothing: everything is populated, large, resident.
pub fn mmap(p: &mut dyn Process, args: Args) -> SysResult {
    let (addr, len, prot, flags, fd, off) = (
        args.raw(0),
        args.raw(1),
        args.raw(2),
        args.raw(3),
        args.fd(4),
        args.raw(5),
    );
    if !off.is_multiple_of(4096) {
        return Err(Errno::EINVAL.into());
    }
    if flags & MAP_ANONYMOUS == 0 {
        return Err(if fd < 0 { Errno::EBADF } else { Errno::ENODEV }.into());
    }
    if len == 0
        || !matches!(
            flags & MAP_TYPE,
            MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE
        )
    {
        return Err(Errno::EINVAL.into());
    }
    let placement = if flags & MAP_FIXED_NOREPLACE != 0 {
        Placement::FixedNoReplace(addr)
    } else if flags & MAP_FIXED != 0 {
        Placement::Fixed(addr)
    } else if flags & MAP_32BIT != 0 {
        Placement::Low2G
    } else {
        Placement::Anywhere { hint: addr }
    };
    let kind = if flags & (MAP_STACK | MAP_GROWSDOWN) != 0 {
        VmaKind::ThreadStack
    } else {
        VmaKind::Anon
    };
    let request = MapRequest {
        len,
        // mmap ignores bits it does not know, unlike mprotect.
        prot: Prot::from_bits(prot & 7).unwrap_or(Prot::NONE),
        kind,
        placement,
    };
    let (space, backing) = p.mm();
    Ok(space.mmap(backing, request)?)
}

/// Implements Linux `munmap(2)`; local. A 2 MiB page stays, and stays
/// accessible, until the last mapping on it goes.
pub fn munmap(p: &mut dyn Process, args: Args) -> SysResult {
    let (space, backing) = p.mm();
    space.munmap(backing, args.raw(0), args.raw(1))?;
    Ok(0)
}

/// Implements Linux `mprotect(2)`; local. Rights apply per page as the
/// union of the mappings on it: exact for whole mappings and for the
/// image's 4 KiB pages, wider than asked inside a shared 2 MiB page.
pub fn mprotect(p: &mut dyn Process, args: Args) -> SysResult {
    let prot = args.raw(2);
    // No mapping here grows, so the grow flags have nothing to apply to.
    if prot & (PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let prot = Prot::from_bits(prot & !PROT_SEM).ok_or(Errno::EINVAL)?;
    let (space, backing) = p.mm();
    space.mprotect(backing, args.raw(0), args.raw(1), prot)?;
    Ok(0)
}

/// Implements Linux `mremap(2)`; local. Grows in place when it can, else
/// (with `MREMAP_MAYMOVE`) moves the frames themselves, never copying; see
/// [`crate::mm`] for the two cases that cannot move (`EINVAL`, `ENOMEM`).
/// `MREMAP_DONTUNMAP` is refused (`EINVAL`).
pub fn mremap(p: &mut dyn Process, args: Args) -> SysResult {
    let (old, old_len, new_len, flags, new_addr) = (
        args.raw(0),
        args.raw(1),
        args.raw(2),
        args.raw(3),
        args.raw(4),
    );
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
        return Err(Errno::EINVAL.into());
    }
    if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 && flags & MREMAP_MAYMOVE == 0 {
        return Err(Errno::EINVAL.into());
    }
    if flags & MREMAP_DONTUNMAP != 0 {
        return Err(Errno::EINVAL.into());
    }
    let how = if flags & MREMAP_FIXED != 0 {
        Remap::Fixed(new_addr)
    } else if flags & MREMAP_MAYMOVE != 0 {
        Remap::MayMove
    } else {
        Remap::InPlace
    };
    let (space, backing) = p.mm();
    Ok(space.mremap(backing, old, old_len, new_len, how)?)
}

/// What `madvise` does with an advice.
enum Advice {
    /// Zero the range (`MADV_DONTNEED`, `MADV_DONTNEED_LOCKED`).
    Discard,
    /// Nothing to do under this policy (no swap, no demand paging, no
    /// fork), but the range must be mapped.
    Accept,
}

fn advice(value: i32) -> Result<Advice, Errno> {
    Ok(match value {
        4 | 24 => Advice::Discard,
        // NORMAL RANDOM SEQUENTIAL WILLNEED, FREE, DONTFORK DOFORK,
        // (UN)MERGEABLE, (NO)HUGEPAGE, DONTDUMP DODUMP, WIPE/KEEPONFORK,
        // COLD PAGEOUT, POPULATE_READ/WRITE, COLLAPSE.
        0..=3 | 8 | 10..=23 | 25 => Advice::Accept,
        // HWPOISON, SOFT_OFFLINE need CAP_SYS_ADMIN.
        100 | 101 => return Err(Errno::EPERM),
        // MADV_REMOVE needs shared file memory; guard regions need 4 KiB
        // pages; the rest is unknown.
        _ => return Err(Errno::EINVAL),
    })
}

/// Implements Linux `madvise(2)`; local. `MADV_DONTNEED` zeroes the range
/// (what dropping anonymous pages looks like to the application; in the
/// image the bytes are zeroed rather than reread from the file); other
/// advice is accepted without effect.
pub fn madvise(p: &mut dyn Process, args: Args) -> SysResult {
    let discard = matches!(advice(args.int(2))?, Advice::Discard);
    let (space, backing) = p.mm();
    space
        .madvise(backing, args.raw(0), args.raw(1), discard)
        .map_err(SysError::from)?;
    Ok(0)
}
