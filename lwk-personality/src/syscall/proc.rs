//! Thread and process life cycle: exit, the start-up registrations, and
//! the process's name.

use super::args::{Args, UserAddr};
use super::errno::Errno;
use super::process::Process;
use super::{read_until_nul, SysError, SysResult};
use crate::futex::MATCH_ANY;

/// Implements Linux `exit(2)` (the thread's exit); local. Like Linux's
/// `mm_release`, zeroes the thread's `clear_child_tid` word and wakes one
/// waiter on it (how `pthread_join` learns of the exit); a fault there is
/// ignored. The robust futex list is not walked. The last thread's exit
/// ends the job (the seL4 side counts threads).
pub fn exit(p: &mut dyn Process, args: Args) -> SysResult {
    let ctid = p.clear_child_tid();
    if !ctid.is_null() {
        p.set_clear_child_tid(UserAddr::NULL);
        if p.copy_out(ctid, &0u32.to_le_bytes()).is_ok() {
            let woken = p.futexes().wake(ctid.0, MATCH_ANY, 1);
            p.wake(&woken);
        }
    }
    Err(SysError::Exit {
        status: args.int(0),
        group: false,
    })
}

/// Implements Linux `exit_group(2)`; local: ends the job.
pub fn exit_group(_: &mut dyn Process, args: Args) -> SysResult {
    Err(SysError::Exit {
        status: args.int(0),
        group: true,
    })
}

/// Implements Linux `set_tid_address(2)`; local. Returns the caller's tid.
pub fn set_tid_address(p: &mut dyn Process, args: Args) -> SysResult {
    p.set_clear_child_tid(args.ptr(0));
    Ok(p.ids().tid as u64)
}

/// Size of `struct robust_list_head` on x86_64.
const ROBUST_LIST_HEAD_SIZE: usize = 24;

/// Implements Linux `set_robust_list(2)`; local. The head is recorded; the
/// list is not yet walked when a thread dies.
pub fn set_robust_list(p: &mut dyn Process, args: Args) -> SysResult {
    if args.len(1) != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL.into());
    }
    p.set_robust_list(args.ptr(0));
    Ok(0)
}

/// `PR_SET_NAME`.
const PR_SET_NAME: i32 = 15;
/// `PR_GET_NAME`.
const PR_GET_NAME: i32 = 16;

/// Implements Linux `prctl(2)`; local: the thread's name
/// (`PR_SET_NAME`, `PR_GET_NAME`). Other options are `EINVAL`, what Linux
/// answers for options it does not support.
pub fn prctl(p: &mut dyn Process, args: Args) -> SysResult {
    match args.int(0) {
        PR_SET_NAME => {
            // strncpy_from_user of 15 bytes: longer names are cut.
            let name = read_until_nul(p, args.ptr(1), 15)?;
            let mut comm = [0u8; 16];
            comm[..name.len()].copy_from_slice(&name);
            *p.thread_name() = comm;
        }
        PR_GET_NAME => {
            let comm = *p.thread_name();
            p.copy_out(args.ptr(1), &comm)?;
        }
        _ => return Err(Errno::EINVAL.into()),
    }
    Ok(0)
}

/// Implements Linux `tgkill(2)` for the calling thread itself; local.
/// Signals are not delivered yet (dispositions are bookkeeping), so a
/// signal to oneself ends the job as killed by it unless it is ignored or
/// 0 (the existence probe); to anyone else `ESRCH`.
pub fn tgkill(p: &mut dyn Process, args: Args) -> SysResult {
    let ids = p.ids();
    let (tgid, tid, sig) = (args.int(0), args.int(1), args.int(2));
    if !(0..=64).contains(&sig) {
        return Err(Errno::EINVAL.into());
    }
    if tgid != ids.pid || tid != ids.tid {
        return Err(Errno::ESRCH.into());
    }
    if sig == 0 {
        return Ok(0);
    }
    Err(SysError::Kill(super::JobFault::Signal(sig)))
}
