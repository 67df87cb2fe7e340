//! Thread and process life cycle: exit and the start-up registrations.

use super::args::Args;
use super::errno::Errno;
use super::process::Process;
use super::{SysError, SysResult};

/// Implements Linux `exit(2)` (the thread's exit); local.
pub fn exit(_: &mut dyn Process, args: Args) -> SysResult {
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
