//! `clone` for threads: validated here, performed by the seL4 side.
//!
//! An LWK job is one process with at most one thread per application core,
//! so `clone` creates threads only: the flags must share everything a POSIX
//! thread shares. A new process (`fork`, `vfork`, `posix_spawn`'s clone)
//! is `ENOSYS` — the job has nowhere to run it. The handler returns
//! [`SysError::Spawn`]; the seL4 side picks a free application core,
//! starts the thread there and answers the caller with the new thread's id,
//! or `-EAGAIN` when every core is taken.

use super::args::{Args, UserAddr};
use super::errno::Errno;
use super::process::{Process, ThreadId};
use super::{SysError, SysResult};
use crate::loader::elf::USER_END;

/// The exit signal of a new process (ignored for threads).
const CSIGNAL: u64 = 0xff;
const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_THREAD: u64 = 0x1_0000;
const CLONE_NEWNS: u64 = 0x2_0000;
const CLONE_SYSVSEM: u64 = 0x4_0000;
/// The new thread's FS base is the `tls` argument.
pub const CLONE_SETTLS: u64 = 0x8_0000;
/// Store the new thread's id at `ptid` (in the caller's memory, which is
/// the child's) before `clone` returns.
pub const CLONE_PARENT_SETTID: u64 = 0x10_0000;
/// The new thread's `clear_child_tid` is `ctid`.
pub const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
/// Ignored by Linux since 2.6; musl still passes it.
const CLONE_DETACHED: u64 = 0x40_0000;
/// Store the new thread's id at `ctid` before it runs.
pub const CLONE_CHILD_SETTID: u64 = 0x100_0000;
const CLONE_NEWUSER: u64 = 0x1000_0000;

/// What makes a clone a POSIX thread: what glibc and musl pass.
const THREAD_FLAGS: u64 =
    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
/// What a thread clone may add.
const OPTIONAL: u64 =
    CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | CLONE_DETACHED;

/// A thread to start; see [`SysError::Spawn`].
///
/// The child starts with the caller's registers, except RAX = 0, RSP =
/// `stack` (the caller's if 0, as Linux) and RIP past the trapping
/// instruction, on a free application core, with the caller's signal mask,
/// FS base = `tls` if given (else the caller's), and `clear_child_tid` =
/// [`Self::clear_child_tid`]. Before either thread runs, the seL4 side calls
/// [`Self::publish_tid`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpawnThread {
    /// The validated clone flags.
    pub flags: u64,
    /// The child's stack pointer; 0 means the caller's.
    pub stack: u64,
    /// The child's FS base (`CLONE_SETTLS`).
    pub tls: Option<u64>,
    /// `ctid` as passed (used per [`CLONE_CHILD_SETTID`] and
    /// [`CLONE_CHILD_CLEARTID`]).
    pub ctid: UserAddr,
    /// `ptid` as passed (used per [`CLONE_PARENT_SETTID`]).
    pub ptid: UserAddr,
}

impl SpawnThread {
    /// The child's `clear_child_tid` (`CLONE_CHILD_CLEARTID`).
    pub fn clear_child_tid(&self) -> Option<UserAddr> {
        (self.flags & CLONE_CHILD_CLEARTID != 0).then_some(self.ctid)
    }

    /// Stores the child's id where the flags ask (`CLONE_PARENT_SETTID` at
    /// `ptid`, `CLONE_CHILD_SETTID` at `ctid`). Linux ignores faults here,
    /// and so does this.
    pub fn publish_tid(&self, p: &mut dyn Process, tid: ThreadId) {
        let bytes = tid.0.to_le_bytes();
        if self.flags & CLONE_PARENT_SETTID != 0 {
            let _ = p.copy_out(self.ptid, &bytes);
        }
        if self.flags & CLONE_CHILD_SETTID != 0 {
            let _ = p.copy_out(self.ctid, &bytes);
        }
    }
}

/// Implements Linux `clone(2)` for threads; local, performed by the seL4
/// side. Arguments in x86_64 order: flags, stack, ptid, ctid, tls.
pub fn clone(_: &mut dyn Process, args: Args) -> SysResult {
    let flags = args.raw(0);
    // Linux's own consistency checks come first (copy_process).
    let inconsistent = flags & (CLONE_NEWNS | CLONE_FS) == CLONE_NEWNS | CLONE_FS
        || flags & (CLONE_NEWUSER | CLONE_FS) == CLONE_NEWUSER | CLONE_FS
        || (flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0)
        || (flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0);
    if inconsistent {
        return Err(Errno::EINVAL.into());
    }
    if flags & CLONE_THREAD == 0 {
        return Err(Errno::ENOSYS.into());
    }
    // A thread with its own file table, namespaces, vfork semantics...
    if flags & THREAD_FLAGS != THREAD_FLAGS || flags & !(THREAD_FLAGS | OPTIONAL | CSIGNAL) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let tls = (flags & CLONE_SETTLS != 0).then(|| args.raw(4));
    if tls.is_some_and(|t| t >= USER_END) {
        return Err(Errno::EPERM.into());
    }
    Err(SysError::Spawn(SpawnThread {
        flags,
        stack: args.raw(1),
        tls,
        ctid: args.ptr(3),
        ptid: args.ptr(2),
    }))
}
