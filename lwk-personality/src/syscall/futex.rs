//! `futex(2)`: the Linux ABI over the process's [`crate::futex::FutexTable`].
//!
//! A wait compares the futex word (read through the process) and enqueues
//! the caller, returning [`SysError::Block`]: the seL4 side leaves the
//! thread blocked in its fault until a wake or the deadline. A wake returns
//! the count and hands the dequeued threads to [`Process::wake`]. Errors
//! and their order follow Linux (`kernel/futex/`), checked against the host
//! kernel in the tests.

use super::args::{Args, UserAddr};
use super::errno::Errno;
use super::process::{Process, ThreadId};
use super::time::{self, Deadline};
use super::{read_user, SysError, SysResult};
use crate::futex::MATCH_ANY;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
/// `FUTEX_PRIVATE_FLAG`: a job is one process, so private and shared
/// futexes are keyed alike, by address.
const FUTEX_PRIVATE_FLAG: u32 = 128;
/// `FUTEX_CLOCK_REALTIME`: the absolute timeout of `FUTEX_WAIT_BITSET` is
/// on `CLOCK_REALTIME` rather than `CLOCK_MONOTONIC`.
const FUTEX_CLOCK_REALTIME: u32 = 256;

/// The calling thread waits; see [`SysError::Block`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Who waits (the caller).
    pub thread: ThreadId,
    /// When the wait ends by itself, if ever.
    pub deadline: Option<Deadline>,
}

/// Implements Linux `futex(2)`; local. `FUTEX_WAIT`, `FUTEX_WAKE`, their
/// `_BITSET` forms, `FUTEX_REQUEUE` and `FUTEX_CMP_REQUEUE`; the others
/// (`WAKE_OP`, the PI family) answer `ENOSYS`.
pub fn futex(p: &mut dyn Process, args: Args) -> SysResult {
    let (uaddr, op, val) = (args.ptr(0), args.uint(1), args.uint(2));
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    // Linux reads the timeout before it looks at anything else.
    let timeout = match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET if !args.ptr(3).is_null() => {
            Some(time::read_timespec(p, args.ptr(3))?)
        }
        _ => None,
    };
    if realtime && cmd != FUTEX_WAIT_BITSET {
        return Err(Errno::ENOSYS.into());
    }
    match cmd {
        FUTEX_WAIT => {
            let deadline = timeout.map(|ns| time::now(p).after(ns));
            wait(p, uaddr, val, MATCH_ANY, deadline)
        }
        FUTEX_WAIT_BITSET => {
            let deadline = timeout.map(|abs| absolute(p, abs, realtime));
            wait(p, uaddr, val, args.uint(5), deadline)
        }
        FUTEX_WAKE => wake(p, uaddr, MATCH_ANY, val as i32),
        FUTEX_WAKE_BITSET => wake(p, uaddr, args.uint(5), val as i32),
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let compare = (cmd == FUTEX_CMP_REQUEUE).then(|| args.uint(5));
            // The requeue count travels in the timeout argument.
            requeue(
                p,
                uaddr,
                args.ptr(4),
                val as i32,
                args.uint(3) as i32,
                compare,
            )
        }
        _ => Err(Errno::ENOSYS.into()),
    }
}

/// An absolute timeout as a monotonic deadline. `CLOCK_REALTIME` here is
/// `CLOCK_MONOTONIC` plus a constant (nothing steps the clock in a job).
fn absolute(p: &dyn Process, abs_ns: u64, realtime: bool) -> Deadline {
    if realtime {
        Deadline(abs_ns.saturating_sub(p.clock().realtime_at_boot_ns))
    } else {
        Deadline(abs_ns)
    }
}

/// A futex word must be a naturally aligned `u32`.
fn check_aligned(uaddr: UserAddr) -> Result<(), Errno> {
    if uaddr.0.is_multiple_of(4) {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

fn wait(
    p: &mut dyn Process,
    uaddr: UserAddr,
    val: u32,
    bitset: u32,
    deadline: Option<Deadline>,
) -> SysResult {
    if bitset == 0 {
        return Err(Errno::EINVAL.into());
    }
    check_aligned(uaddr)?;
    let word = u32::from_le_bytes(read_user::<4>(p, uaddr)?);
    if word != val {
        return Err(Errno::EAGAIN.into());
    }
    // Linux would enqueue and let an expired timer fire at once.
    if deadline.is_some_and(|d| d <= time::now(p)) {
        return Err(Errno::ETIMEDOUT.into());
    }
    let thread = ThreadId(p.ids().tid);
    p.futexes().wait(thread, uaddr.0, bitset, deadline);
    Err(SysError::Block(Block { thread, deadline }))
}

fn wake(p: &mut dyn Process, uaddr: UserAddr, bitset: u32, nr_wake: i32) -> SysResult {
    if bitset == 0 {
        return Err(Errno::EINVAL.into());
    }
    check_aligned(uaddr)?;
    // Linux counts after waking (`if (++ret >= nr_wake) break`), so a
    // count of zero or less still wakes one.
    let max = usize::try_from(nr_wake).unwrap_or(0).max(1);
    let woken = p.futexes().wake(uaddr.0, bitset, max);
    p.wake(&woken);
    Ok(woken.len() as u64)
}

/// Returns woken + requeued, for both commands: that is what Linux's
/// `futex_requeue` returns (its man page says "woken" for `FUTEX_REQUEUE`).
fn requeue(
    p: &mut dyn Process,
    from: UserAddr,
    to: UserAddr,
    nr_wake: i32,
    nr_requeue: i32,
    compare: Option<u32>,
) -> SysResult {
    let (Ok(nr_wake), Ok(nr_requeue)) = (usize::try_from(nr_wake), usize::try_from(nr_requeue))
    else {
        return Err(Errno::EINVAL.into());
    };
    check_aligned(from)?;
    check_aligned(to)?;
    if let Some(expected) = compare {
        if u32::from_le_bytes(read_user::<4>(p, from)?) != expected {
            return Err(Errno::EAGAIN.into());
        }
    }
    let (woken, moved) = p.futexes().requeue(from.0, to.0, nr_wake, nr_requeue);
    p.wake(&woken);
    Ok((woken.len() + moved) as u64)
}
