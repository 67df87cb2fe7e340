//! Signal dispositions and masks: the bookkeeping half of signals.
//!
//! Static programs install handlers and block signals during start-up and
//! around thread creation; those calls must succeed and round-trip. Delivery
//! (building a signal frame on the application stack) is not implemented
//! yet, hence the table marks these calls `Partial`.

use super::args::Args;
use super::errno::Errno;
use super::process::Process;
use super::{read_words, write_words, SysResult};

/// Number of signals (1..=64).
pub const NSIG: usize = 64;
/// `SIGKILL`: its disposition and mask bit cannot be changed.
pub const SIGKILL: usize = 9;
/// `SIGSTOP`: likewise.
pub const SIGSTOP: usize = 19;
/// The only `sigsetsize` the x86_64 kernel accepts.
const SIGSET_SIZE: usize = 8;
/// Bits of the signals that can never be blocked.
const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

const fn bit(sig: usize) -> u64 {
    1 << (sig - 1)
}

/// The kernel's `struct sigaction` on x86_64 (32 bytes: handler, flags,
/// restorer, mask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// `SIG_DFL` (0), `SIG_IGN` (1) or a handler address.
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// Return trampoline (`SA_RESTORER`; mandatory on x86_64).
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

/// Dispositions (per process) and the blocked mask (per thread: the
/// implementer hands out the calling thread's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalState {
    /// Disposition of signal `n` at index `n - 1`.
    pub actions: [SigAction; NSIG],
    /// Blocked signals: bit `n - 1` for signal `n`.
    pub mask: u64,
}

impl Default for SignalState {
    fn default() -> Self {
        Self {
            actions: [SigAction::default(); NSIG],
            mask: 0,
        }
    }
}

/// Implements Linux `rt_sigaction(2)`; local, bookkeeping only.
pub fn rt_sigaction(p: &mut dyn Process, args: Args) -> SysResult {
    let sig = args.int(0);
    let (new, old) = (args.ptr(1), args.ptr(2));
    if args.len(3) != SIGSET_SIZE || !(1..=NSIG as i32).contains(&sig) {
        return Err(Errno::EINVAL.into());
    }
    let sig = sig as usize;
    if !new.is_null() && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(Errno::EINVAL.into());
    }
    // Read the new action first: a bad pointer changes nothing.
    let new = if new.is_null() {
        None
    } else {
        let [handler, flags, restorer, mask] = read_words::<4>(p, new)?;
        Some(SigAction {
            handler,
            flags,
            restorer,
            mask: mask & !UNBLOCKABLE,
        })
    };
    let current = p.signals().actions[sig - 1];
    if !old.is_null() {
        write_words(
            p,
            old,
            &[
                current.handler,
                current.flags,
                current.restorer,
                current.mask,
            ],
        )?;
    }
    if let Some(action) = new {
        p.signals().actions[sig - 1] = action;
    }
    Ok(0)
}

/// `how` values of `rt_sigprocmask`.
const SIG_BLOCK: i32 = 0;
const SIG_UNBLOCK: i32 = 1;
const SIG_SETMASK: i32 = 2;

/// Implements Linux `rt_sigprocmask(2)`; local, bookkeeping only.
pub fn rt_sigprocmask(p: &mut dyn Process, args: Args) -> SysResult {
    let (how, set, old) = (args.int(0), args.ptr(1), args.ptr(2));
    if args.len(3) != SIGSET_SIZE {
        return Err(Errno::EINVAL.into());
    }
    let previous = p.signals().mask;
    if !set.is_null() {
        let [set] = read_words::<1>(p, set)?;
        let mask = match how {
            SIG_BLOCK => previous | set,
            SIG_UNBLOCK => previous & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL.into()),
        };
        p.signals().mask = mask & !UNBLOCKABLE;
    }
    if !old.is_null() {
        write_words(p, old, &[previous])?;
    }
    Ok(0)
}
