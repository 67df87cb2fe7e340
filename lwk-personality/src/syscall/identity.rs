//! Who the caller is: process, thread and user ids.
//!
//! A job has one process; its ids are fixed when it starts. Credentials come
//! from the job description (the user who submitted it on the Linux side) and
//! cannot change: there is no `setuid` in an LWK job.

use super::args::Args;
use super::errno::Errno;
use super::process::Process;
use super::SysResult;

/// Implements Linux `getpid(2)`; local.
pub fn getpid(p: &mut dyn Process, _: Args) -> SysResult {
    Ok(p.ids().pid as u64)
}

/// Implements Linux `gettid(2)`; local.
pub fn gettid(p: &mut dyn Process, _: Args) -> SysResult {
    Ok(p.ids().tid as u64)
}

/// Implements Linux `getppid(2)`; local.
pub fn getppid(p: &mut dyn Process, _: Args) -> SysResult {
    Ok(p.ids().ppid as u64)
}

/// Implements Linux `getuid(2)`; local.
pub fn getuid(p: &mut dyn Process, _: Args) -> SysResult {
    Ok(p.credentials().uid.into())
}

/// Implements Linux `geteuid(2)`; local.
pub fn geteuid(p: &mut dyn Process, _: Args) -> SysResult {
    Ok(p.credentials().euid.into())
}

/// Implements Linux `getgid(2)`; local.
pub fn getgid(p: &mut dyn Process, _: Args) -> SysResult {
    Ok(p.credentials().gid.into())
}

/// Implements Linux `getegid(2)`; local.
pub fn getegid(p: &mut dyn Process, _: Args) -> SysResult {
    Ok(p.credentials().egid.into())
}

/// Writes three ids; like Linux, each pointer is written in turn.
fn put_three(p: &mut dyn Process, args: Args, ids: [u32; 3]) -> SysResult {
    for (i, id) in ids.into_iter().enumerate() {
        p.copy_out(args.ptr(i), &id.to_le_bytes())?;
    }
    Ok(0)
}

/// Implements Linux `getresuid(2)`; local.
pub fn getresuid(p: &mut dyn Process, args: Args) -> SysResult {
    let c = p.credentials();
    put_three(p, args, [c.uid, c.euid, c.suid])
}

/// Implements Linux `getresgid(2)`; local.
pub fn getresgid(p: &mut dyn Process, args: Args) -> SysResult {
    let c = p.credentials();
    put_three(p, args, [c.gid, c.egid, c.sgid])
}

/// Implements Linux `getgroups(2)`; local. A job has no supplementary
/// groups.
pub fn getgroups(_: &mut dyn Process, args: Args) -> SysResult {
    if args.int(0) < 0 {
        return Err(Errno::EINVAL.into());
    }
    Ok(0)
}

/// `pid` names the calling process (0 or its own id), else `ESRCH`: a job
/// sees no other process.
pub(super) fn check_own_pid(p: &dyn Process, pid: i32) -> Result<(), Errno> {
    if pid == 0 || pid == p.ids().pid {
        Ok(())
    } else {
        Err(Errno::ESRCH)
    }
}

/// Implements Linux `getpgrp(2)`; local.
pub fn getpgrp(p: &mut dyn Process, _: Args) -> SysResult {
    Ok(p.ids().pgid as u64)
}

/// Implements Linux `getpgid(2)`; local, own process only.
pub fn getpgid(p: &mut dyn Process, args: Args) -> SysResult {
    check_own_pid(p, args.pid(0))?;
    Ok(p.ids().pgid as u64)
}

/// Implements Linux `getsid(2)`; local, own process only.
pub fn getsid(p: &mut dyn Process, args: Args) -> SysResult {
    check_own_pid(p, args.pid(0))?;
    Ok(p.ids().sid as u64)
}
