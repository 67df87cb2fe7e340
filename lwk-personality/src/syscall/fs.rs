//! File-system calls answered locally. The file system lives on the Linux
//! side; until calls are shipped there, only what the personality knows by
//! itself is answered: `/proc/self/exe`, which static programs read to find
//! themselves (glibc's `_dl_get_origin`, busybox, Fortran runtimes).

use super::args::{Args, UserAddr};
use super::errno::Errno;
use super::process::Process;
use super::{read_path, SysResult};
use alloc::format;

/// Whether `path` names the calling process's executable link.
fn is_own_exe(p: &dyn Process, path: &[u8]) -> bool {
    let ids = p.ids();
    path == b"/proc/self/exe"
        || path == b"/proc/thread-self/exe"
        || path == format!("/proc/{}/exe", ids.pid).as_bytes()
        || path == format!("/proc/{}/task/{}/exe", ids.pid, ids.tid).as_bytes()
}

/// The common part of `readlink` and `readlinkat`: Linux's checks in its
/// order, then the link's target without a NUL, truncated to the buffer.
fn readlink_common(p: &mut dyn Process, path: UserAddr, buf: UserAddr, size: i32) -> SysResult {
    if size <= 0 {
        return Err(Errno::EINVAL.into());
    }
    let path = read_path(p, path)?;
    if path.is_empty() {
        return Err(Errno::ENOENT.into());
    }
    if !is_own_exe(p, &path) {
        return Err(Errno::ENOENT.into());
    }
    let target = p.exe_path().as_bytes();
    let n = target.len().min(size as usize);
    let bytes = target[..n].to_vec();
    p.copy_out(buf, &bytes)?;
    Ok(n as u64)
}

/// Implements Linux `readlink(2)`; local for `/proc/self/exe` and its
/// aliases, `ENOENT` otherwise (until path calls are shipped).
pub fn readlink(p: &mut dyn Process, args: Args) -> SysResult {
    readlink_common(p, args.ptr(0), args.ptr(1), args.int(2))
}

/// Implements Linux `readlinkat(2)`; as [`readlink`]. The links it knows
/// are absolute, so the directory descriptor does not matter.
pub fn readlinkat(p: &mut dyn Process, args: Args) -> SysResult {
    readlink_common(p, args.ptr(1), args.ptr(2), args.int(3))
}
