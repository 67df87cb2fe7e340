//! Calls on paths and on the working directory. Every path is resolved
//! through [`Root`](crate::confine::Root), so it stays inside the job's tree.

use std::os::fd::AsFd;

use channel::Errno;

use super::{Args, Ctx};
use crate::path::PATH_MAX;
use crate::sys;

/// The flags `openat(2)` knows (`VALID_OPEN_FLAGS`); it ignores the
/// others, where `openat2(2)` would refuse them.
const VALID_OPEN_FLAGS: i32 = libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_NOCTTY
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DSYNC
    | libc::O_ASYNC
    | libc::O_DIRECT
    | libc::O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_NOATIME
    | libc::O_CLOEXEC
    | libc::O_PATH
    | libc::O_TMPFILE
    | libc::O_SYNC;

/// Implements Linux `openat(2)`: `(dirfd, path, flags, mode)`; the new
/// descriptor is the lowest free one of the job.
pub fn openat(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let path = args.path(1)?;
    let flags = args.int(2) & VALID_OPEN_FLAGS;
    let cloexec = flags & libc::O_CLOEXEC != 0;
    // openat ignores the mode unless it creates; openat2 insists on 0.
    let creates = flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE;
    let mode = if creates { args.u64(3) & 0o7777 } else { 0 };
    let dir = ctx.job.dir(args.fd(0))?;
    let file = ctx.root.open_at(dir, path, flags as u32 as u64, mode)?;
    ctx.job.files.insert(0, file, cloexec).map(|fd| fd as u64)
}

/// Implements Linux `mkdirat(2)`: `(dirfd, path, mode)`.
pub fn mkdirat(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let (dir, split) = ctx.root.parent(ctx.job.dir(args.fd(0))?, args.path(1)?)?;
    if split.is_dot() {
        return Err(Errno::EEXIST);
    }
    sys::mkdirat(dir.as_fd(), &split.last, args.u64(2) as u32 & 0o7777)
}

/// Implements Linux `unlinkat(2)`: `(dirfd, path, flags)`.
pub fn unlinkat(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let flags = args.int(2);
    if flags & !libc::AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let rmdir = flags & libc::AT_REMOVEDIR != 0;
    let (dir, split) = ctx.root.parent(ctx.job.dir(args.fd(0))?, args.path(1)?)?;
    if split.is_dot() {
        return Err(match (rmdir, split.last.as_bytes()) {
            (false, _) => Errno::EISDIR,
            (true, b".") => Errno::EINVAL,
            (true, _) => Errno::ENOTEMPTY,
        });
    }
    if split.trailing_slash && !rmdir {
        // unlink("file/") is ENOTDIR, unlink("dir/") EISDIR: never a removal.
        let stat = sys::fstatat(dir.as_fd(), &split.last, libc::AT_SYMLINK_NOFOLLOW)?;
        let mode = u32::from_ne_bytes(stat[24..28].try_into().expect("st_mode"));
        return Err(if mode & libc::S_IFMT == libc::S_IFDIR {
            Errno::EISDIR
        } else {
            Errno::ENOTDIR
        });
    }
    sys::unlinkat(dir.as_fd(), &split.last, flags)
}

/// Implements Linux `renameat(2)`: `(olddirfd, oldpath, newdirfd, newpath)`.
pub fn renameat(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let (old_dir, old) = ctx.root.parent(ctx.job.dir(args.fd(0))?, args.path(1)?)?;
    let (new_dir, new) = ctx.root.parent(ctx.job.dir(args.fd(2))?, args.path(3)?)?;
    if old.is_dot() || new.is_dot() {
        return Err(Errno::EBUSY);
    }
    sys::renameat(old_dir.as_fd(), &old.last, new_dir.as_fd(), &new.last)
}

/// Implements Linux `newfstatat(2)`: `(dirfd, path, -, flags)`; `struct
/// stat` back.
pub fn newfstatat(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let flags = args.int(3);
    let known = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let path = args.raw_path(1)?;
    let dir = ctx.job.dir(args.fd(0))?;
    let stat = if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        sys::fstatat(dir, c"", libc::AT_EMPTY_PATH)?
    } else {
        let nofollow = flags & libc::AT_SYMLINK_NOFOLLOW != 0;
        let file = ctx.root.locate(dir, path, nofollow)?;
        sys::fstatat(file.as_fd(), c"", libc::AT_EMPTY_PATH)?
    };
    ctx.out.extend_from_slice(&stat);
    Ok(0)
}

/// Implements Linux `statx(2)`: `(dirfd, path, flags, mask)`; `struct
/// statx` back.
pub fn statx(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let flags = args.int(2);
    let mask = args.u64(3) as u32;
    let sync = flags & libc::AT_STATX_SYNC_TYPE;
    let path = args.raw_path(1)?;
    let dir = ctx.job.dir(args.fd(0))?;
    let stat = if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        sys::statx(dir, c"", libc::AT_EMPTY_PATH | sync, mask)?
    } else {
        let nofollow = flags & libc::AT_SYMLINK_NOFOLLOW != 0;
        let file = ctx.root.locate(dir, path, nofollow)?;
        sys::statx(file.as_fd(), c"", libc::AT_EMPTY_PATH | sync, mask)?
    };
    ctx.out.extend_from_slice(&stat);
    Ok(0)
}

/// Implements Linux `readlinkat(2)`: `(dirfd, path, -, bufsiz)`; the
/// target back (truncated to `bufsiz`, no NUL).
pub fn readlinkat(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    if args.int(3) <= 0 {
        return Err(Errno::EINVAL);
    }
    let link = ctx
        .root
        .locate(ctx.job.dir(args.fd(0))?, args.path(1)?, true)?;
    let mut buf = vec![0u8; args.out_len(3).min(PATH_MAX)];
    let n = sys::readlinkat(link.as_fd(), c"", &mut buf)?;
    ctx.out.extend_from_slice(&buf[..n]);
    Ok(n as u64)
}

/// Implements Linux `faccessat2(2)` (and `faccessat`, flags 0): `(dirfd,
/// path, mode, flags)`.
pub fn faccessat(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let mode = args.int(2);
    let flags = args.int(3);
    if mode & !(libc::R_OK | libc::W_OK | libc::X_OK) != 0
        || flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EACCESS | libc::AT_EMPTY_PATH) != 0
    {
        return Err(Errno::EINVAL);
    }
    let path = args.raw_path(1)?;
    let dir = ctx.job.dir(args.fd(0))?;
    let keep = flags & libc::AT_EACCESS;
    if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        return sys::faccessat2(dir, c"", mode, libc::AT_EMPTY_PATH | keep);
    }
    let nofollow = flags & libc::AT_SYMLINK_NOFOLLOW != 0;
    let file = ctx.root.locate(dir, path, nofollow)?;
    sys::faccessat2(file.as_fd(), c"", mode, libc::AT_EMPTY_PATH | keep)
}

/// Implements Linux `getcwd(2)`: `(-, size)`; the path as the job sees it
/// (its root is `/`), NUL-terminated; the result is its length with the NUL.
pub fn getcwd(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let rel = ctx.root.path_of(ctx.job.cwd.as_fd())?;
    let mut path = Vec::with_capacity(rel.len() + 2);
    path.push(b'/');
    path.extend_from_slice(&rel);
    path.push(0);
    if (args.u64(1) as usize) < path.len() {
        return Err(Errno::ERANGE);
    }
    ctx.out.extend_from_slice(&path);
    Ok(path.len() as u64)
}

/// Implements Linux `chdir(2)`: `(path)`.
pub fn chdir(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let path = args.path(0)?;
    let flags = (libc::O_PATH | libc::O_DIRECTORY) as u64;
    let dir = ctx.root.open_at(ctx.job.cwd.as_fd(), path, flags, 0)?;
    ctx.job.cwd = dir;
    Ok(0)
}
