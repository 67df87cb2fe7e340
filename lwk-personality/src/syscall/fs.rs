//! Calls on paths, shipped to the Linux VM, where the files are; the job's
//! root and working directory are the daemon's business (it confines
//! every path to the job's tree). What the personality knows by itself is
//! answered locally: `/proc/self/exe`, which static programs read to find
//! themselves (glibc's `_dl_get_origin`, busybox, Fortran runtimes).
//! Without a Linux VM (standalone mode) path calls are `ENOSYS`.

use super::args::{Args, UserAddr};
use super::errno::Errno;
use super::files::{fstat_fd, O_CLOEXEC};
use super::process::Process;
use super::ship::{self, path_data, remote_dirfd, Opcode, AT_FDCWD, CHUNK};
use super::{read_path, SysResult};
use crate::fd::Target;
use alloc::format;

const O_WRONLY: u64 = 1;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_REMOVEDIR: u64 = 0x200;
const AT_EMPTY_PATH: u64 = 0x1000;
const STAT_SIZE: usize = 144;
const STATX_SIZE: usize = 256;

/// Whether `path` names the calling process's executable link.
fn is_own_exe(p: &dyn Process, path: &[u8]) -> bool {
    let ids = p.ids();
    path == b"/proc/self/exe"
        || path == b"/proc/thread-self/exe"
        || path == format!("/proc/{}/exe", ids.pid).as_bytes()
        || path == format!("/proc/{}/task/{}/exe", ids.pid, ids.tid).as_bytes()
}

/// `openat` with the program's arguments: ships the open, then gives the
/// daemon's new descriptor a local number (closing it again if the table
/// is full).
fn open_common(
    p: &mut dyn Process,
    dirfd: i32,
    path: UserAddr,
    flags: u64,
    mode: u64,
) -> SysResult {
    let dir = remote_dirfd(p, dirfd)?;
    let data = path_data(p, path)?;
    let remote = ship::call(p, Opcode::Openat, [dir, 0, flags, mode, 0, 0], &data)? as i32;
    let target = Target::Remote {
        fd: remote,
        opened: true,
    };
    match p.fds().install(target, flags & O_CLOEXEC != 0) {
        Ok(fd) => Ok(fd as u64),
        Err(e) => {
            let _ = ship::call(p, Opcode::Close, [remote as u64, 0, 0, 0, 0, 0], &[]);
            Err(e.into())
        }
    }
}

/// Implements Linux `openat(2)`; shipped.
pub fn openat(p: &mut dyn Process, args: Args) -> SysResult {
    open_common(p, args.fd(0), args.ptr(1), args.raw(2), args.raw(3))
}

/// Implements Linux `open(2)`; shipped.
pub fn open(p: &mut dyn Process, args: Args) -> SysResult {
    open_common(p, AT_FDCWD, args.ptr(0), args.raw(1), args.raw(2))
}

/// Implements Linux `creat(2)`; shipped.
pub fn creat(p: &mut dyn Process, args: Args) -> SysResult {
    open_common(
        p,
        AT_FDCWD,
        args.ptr(0),
        O_CREAT | O_WRONLY | O_TRUNC,
        args.raw(1),
    )
}

/// A call on one path with plain arguments after it: `(dirfd, path, a, b)`.
fn path_call(
    p: &mut dyn Process,
    op: Opcode,
    dirfd: i32,
    path: UserAddr,
    a: u64,
    b: u64,
) -> SysResult {
    let dir = remote_dirfd(p, dirfd)?;
    let data = path_data(p, path)?;
    Ok(ship::call(p, op, [dir, 0, a, b, 0, 0], &data)?)
}

/// Implements Linux `mkdirat(2)`; shipped.
pub fn mkdirat(p: &mut dyn Process, args: Args) -> SysResult {
    path_call(p, Opcode::Mkdirat, args.fd(0), args.ptr(1), args.raw(2), 0)
}

/// Implements Linux `mkdir(2)`; shipped.
pub fn mkdir(p: &mut dyn Process, args: Args) -> SysResult {
    path_call(p, Opcode::Mkdirat, AT_FDCWD, args.ptr(0), args.raw(1), 0)
}

/// Implements Linux `unlinkat(2)`; shipped.
pub fn unlinkat(p: &mut dyn Process, args: Args) -> SysResult {
    path_call(p, Opcode::Unlinkat, args.fd(0), args.ptr(1), args.raw(2), 0)
}

/// Implements Linux `unlink(2)`; shipped.
pub fn unlink(p: &mut dyn Process, args: Args) -> SysResult {
    path_call(p, Opcode::Unlinkat, AT_FDCWD, args.ptr(0), 0, 0)
}

/// Implements Linux `rmdir(2)`; shipped.
pub fn rmdir(p: &mut dyn Process, args: Args) -> SysResult {
    path_call(p, Opcode::Unlinkat, AT_FDCWD, args.ptr(0), AT_REMOVEDIR, 0)
}

/// Implements Linux `faccessat(2)`; shipped.
pub fn faccessat(p: &mut dyn Process, args: Args) -> SysResult {
    path_call(
        p,
        Opcode::Faccessat,
        args.fd(0),
        args.ptr(1),
        args.raw(2),
        0,
    )
}

/// Implements Linux `faccessat2(2)`; shipped.
pub fn faccessat2(p: &mut dyn Process, args: Args) -> SysResult {
    let flags = args.raw(3);
    path_call(
        p,
        Opcode::Faccessat,
        args.fd(0),
        args.ptr(1),
        args.raw(2),
        flags,
    )
}

/// Implements Linux `access(2)`; shipped.
pub fn access(p: &mut dyn Process, args: Args) -> SysResult {
    path_call(p, Opcode::Faccessat, AT_FDCWD, args.ptr(0), args.raw(1), 0)
}

/// `renameat(olddirfd, old, newdirfd, new)`: both paths in the data.
fn rename_common(
    p: &mut dyn Process,
    olddir: i32,
    old: UserAddr,
    newdir: i32,
    new: UserAddr,
) -> SysResult {
    let (od, nd) = (remote_dirfd(p, olddir)?, remote_dirfd(p, newdir)?);
    let mut data = path_data(p, old)?;
    let second = data.len() as u64;
    data.extend_from_slice(&path_data(p, new)?);
    Ok(ship::call(
        p,
        Opcode::Renameat,
        [od, 0, nd, second, 0, 0],
        &data,
    )?)
}

/// Implements Linux `renameat(2)`; shipped.
pub fn renameat(p: &mut dyn Process, args: Args) -> SysResult {
    rename_common(p, args.fd(0), args.ptr(1), args.fd(2), args.ptr(3))
}

/// Implements Linux `renameat2(2)` without flags (`EINVAL` with any).
pub fn renameat2(p: &mut dyn Process, args: Args) -> SysResult {
    if args.raw(4) != 0 {
        return Err(Errno::EINVAL.into());
    }
    renameat(p, args)
}

/// Implements Linux `rename(2)`; shipped.
pub fn rename(p: &mut dyn Process, args: Args) -> SysResult {
    rename_common(p, AT_FDCWD, args.ptr(0), AT_FDCWD, args.ptr(1))
}

/// Whether the path at `addr` is empty (for `AT_EMPTY_PATH`).
fn is_empty_path(p: &mut dyn Process, addr: UserAddr) -> Result<bool, Errno> {
    let mut first = [0u8; 1];
    p.copy_in(addr, &mut first)?;
    Ok(first[0] == 0)
}

/// `newfstatat` with the program's arguments.
fn stat_common(
    p: &mut dyn Process,
    dirfd: i32,
    path: UserAddr,
    buf: UserAddr,
    flags: u64,
) -> SysResult {
    if flags & AT_EMPTY_PATH != 0 && is_empty_path(p, path)? {
        return fstat_fd(p, dirfd, buf);
    }
    let dir = remote_dirfd(p, dirfd)?;
    let data = path_data(p, path)?;
    let (_, st) = ship::call_reading(
        p,
        Opcode::Newfstatat,
        [dir, 0, 0, flags, 0, 0],
        &data,
        STAT_SIZE,
    )?;
    if st.len() != STAT_SIZE {
        return Err(Errno::EIO.into());
    }
    p.copy_out(buf, &st)?;
    Ok(0)
}

/// Implements Linux `newfstatat(2)`; shipped (`AT_EMPTY_PATH` on a console
/// stream is answered locally).
pub fn newfstatat(p: &mut dyn Process, args: Args) -> SysResult {
    stat_common(p, args.fd(0), args.ptr(1), args.ptr(2), args.raw(3))
}

/// Implements Linux `stat(2)`; shipped.
pub fn stat(p: &mut dyn Process, args: Args) -> SysResult {
    stat_common(p, AT_FDCWD, args.ptr(0), args.ptr(1), 0)
}

/// Implements Linux `lstat(2)`; shipped.
pub fn lstat(p: &mut dyn Process, args: Args) -> SysResult {
    stat_common(p, AT_FDCWD, args.ptr(0), args.ptr(1), AT_SYMLINK_NOFOLLOW)
}

/// Implements Linux `statx(2)`; shipped. On a console stream it is
/// `ENOSYS`, which makes the C and Rust libraries fall back to `fstat`.
pub fn statx(p: &mut dyn Process, args: Args) -> SysResult {
    let (dirfd, path, flags, mask, buf) = (
        args.fd(0),
        args.ptr(1),
        args.raw(2),
        args.raw(3),
        args.ptr(4),
    );
    if flags & AT_EMPTY_PATH != 0
        && is_empty_path(p, path)?
        && matches!(p.fds().get(dirfd)?, Target::Console(_))
    {
        return Err(Errno::ENOSYS.into());
    }
    let dir = remote_dirfd(p, dirfd)?;
    let data = path_data(p, path)?;
    let (_, sx) = ship::call_reading(
        p,
        Opcode::Statx,
        [dir, 0, flags, mask, 0, 0],
        &data,
        STATX_SIZE,
    )?;
    if sx.len() != STATX_SIZE {
        return Err(Errno::EIO.into());
    }
    p.copy_out(buf, &sx)?;
    Ok(0)
}

/// The common part of `readlink` and `readlinkat`: Linux's checks in its
/// order; the own executable's link locally, other links shipped; the
/// target without a NUL, truncated to the buffer.
fn readlink_common(
    p: &mut dyn Process,
    dirfd: i32,
    path: UserAddr,
    buf: UserAddr,
    size: i32,
) -> SysResult {
    if size <= 0 {
        return Err(Errno::EINVAL.into());
    }
    let name = read_path(p, path)?;
    if name.is_empty() {
        return Err(Errno::ENOENT.into());
    }
    let target = if is_own_exe(p, &name) {
        p.exe_path().as_bytes().to_vec()
    } else {
        let dir = remote_dirfd(p, dirfd)?;
        let data = path_data(p, path)?;
        let n = (size as usize).min(CHUNK);
        let (r, t) =
            ship::call_reading(p, Opcode::Readlinkat, [dir, 0, 0, n as u64, 0, 0], &data, n)?;
        let mut t = t;
        t.truncate(r as usize);
        t
    };
    let n = target.len().min(size as usize);
    p.copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

/// Implements Linux `readlink(2)`.
pub fn readlink(p: &mut dyn Process, args: Args) -> SysResult {
    readlink_common(p, AT_FDCWD, args.ptr(0), args.ptr(1), args.int(2))
}

/// Implements Linux `readlinkat(2)`.
pub fn readlinkat(p: &mut dyn Process, args: Args) -> SysResult {
    readlink_common(p, args.fd(0), args.ptr(1), args.ptr(2), args.int(3))
}

/// Implements Linux `getcwd(2)`; shipped: the path below the job's root,
/// NUL-terminated; the result is its length with the NUL.
pub fn getcwd(p: &mut dyn Process, args: Args) -> SysResult {
    let (buf, size) = (args.ptr(0), args.len(1));
    let want = size.min(CHUNK);
    let (r, path) = ship::call_reading(p, Opcode::Getcwd, [0, want as u64, 0, 0, 0, 0], &[], want)?;
    let n = (r as usize).min(path.len());
    if n > size {
        return Err(Errno::ERANGE.into());
    }
    p.copy_out(buf, &path[..n])?;
    Ok(n as u64)
}

/// Implements Linux `chdir(2)`; shipped.
pub fn chdir(p: &mut dyn Process, args: Args) -> SysResult {
    let data = path_data(p, args.ptr(0))?;
    Ok(ship::call(p, Opcode::Chdir, [0, 0, 0, 0, 0, 0], &data)?)
}
