//! Linux system-call emulation: one table, typed arguments and errors, and
//! handlers that run against a [`Process`] so the host can test them.
//!
//! The trap handler (in the seL4 binary) reads the registers, calls
//! [`Dispatcher::dispatch`] with RAX and the six arguments, and applies the
//! [`SysError`]'s fate: an [`Errno`] becomes `-errno` in RAX, [`SysError::Exit`]
//! ends the thread or the job, [`SysError::Kill`] ends the job with a report.
//! That policy lives in one place, as in Hubris's `UserError`.

pub mod args;
pub mod doc;
pub mod errno;
pub mod files;
pub mod fs;
pub mod futex;
pub mod identity;
pub mod info;
pub mod io;
pub mod mm;
pub mod nr;
pub mod proc;
pub mod process;
pub mod ship;
pub mod signal;
pub mod table;
pub mod thread;
pub mod time;
pub mod x86_64;

pub use args::{Args, UserAddr};
pub use errno::Errno;
pub use futex::Block;
pub use process::{Process, ThreadId};
pub use table::{Dispatcher, Route, Support, Syscall};
pub use thread::SpawnThread;

use crate::mm::MapFail;
use alloc::vec::Vec;

/// Why a system call does not simply return a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysError {
    /// Fail with this error: RAX = `-errno`, the thread goes on.
    Errno(Errno),
    /// The thread (`group: false`, `exit`) or the whole job (`exit_group`)
    /// ends with this status.
    Exit {
        /// The low 8 bits are the exit status.
        status: i32,
        /// `exit_group` rather than `exit`.
        group: bool,
    },
    /// End the job: the application did something the personality refuses
    /// to continue after.
    Kill(JobFault),
    /// Do not answer now: the calling thread waits (a futex) until the
    /// futex table dequeues it — [`Process::wake`] resumes it with 0 — or
    /// until its deadline, when [`crate::futex::FutexTable::expire`] names
    /// it for `-ETIMEDOUT`.
    Block(Block),
    /// Start a thread as described (`clone`); answer the caller with the
    /// new thread's id, or `-EAGAIN` when no application core is free.
    Spawn(SpawnThread),
}

/// Why a job is ended by the personality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobFault {
    /// A call that must not be emulated half-way (reason attached).
    Unsupported(&'static str),
    /// The memory backing refused to change an existing mapping: the
    /// application's VSpace may no longer match the memory manager's books.
    Mapping(MapFail),
    /// The program sent itself this signal (`abort` → `SIGABRT`) and no
    /// handler runs (signal delivery is bookkeeping only so far): the job
    /// ends as if killed by it.
    Signal(i32),
}

impl From<Errno> for SysError {
    fn from(e: Errno) -> Self {
        SysError::Errno(e)
    }
}

/// Result of a handler: the value for RAX, or what to do instead.
pub type SysResult = Result<u64, SysError>;

/// What a handler looks like: every one takes the process and the six
/// arguments (it reads only those it needs).
pub type Handler = fn(&mut dyn Process, Args) -> SysResult;

/// Reads a plain-data value from user memory.
fn read_user<const N: usize>(p: &mut dyn Process, addr: UserAddr) -> Result<[u8; N], Errno> {
    let mut buf = [0u8; N];
    p.copy_in(addr, &mut buf)?;
    Ok(buf)
}

/// Reads a little-endian `u64` array of `N` words from user memory.
fn read_words<const N: usize>(p: &mut dyn Process, addr: UserAddr) -> Result<[u64; N], Errno> {
    let mut words = [0u64; N];
    for (i, w) in words.iter_mut().enumerate() {
        let at = addr.offset(8 * i as u64).ok_or(Errno::EFAULT)?;
        *w = u64::from_le_bytes(read_user::<8>(p, at)?);
    }
    Ok(words)
}

/// Writes `u64` words to user memory, little-endian, in one copy.
fn write_words(p: &mut dyn Process, addr: UserAddr, words: &[u64]) -> Result<(), Errno> {
    let mut buf = [0u8; 64];
    let bytes = buf.get_mut(..8 * words.len()).ok_or(Errno::EINVAL)?;
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    p.copy_out(addr, bytes)
}

/// Linux's `PATH_MAX`, terminating NUL included.
const PATH_MAX: usize = 4096;

/// Reads user memory from `addr` up to the first NUL (excluded) or `limit`
/// bytes, whichever comes first. Reads page by page, so a string that ends
/// just before unmapped memory is fine.
fn read_until_nul(p: &mut dyn Process, addr: UserAddr, limit: usize) -> Result<Vec<u8>, Errno> {
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut chunk = [0u8; PAGE as usize];
    let mut at = addr;
    while out.len() < limit {
        let n = ((PAGE - at.0 % PAGE) as usize).min(limit - out.len());
        p.copy_in(at, &mut chunk[..n])?;
        if let Some(end) = chunk[..n].iter().position(|&c| c == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        at = at.offset(n as u64).ok_or(Errno::EFAULT)?;
    }
    Ok(out)
}

/// Reads a path: `ENAMETOOLONG` if it has no NUL within `PATH_MAX`.
fn read_path(p: &mut dyn Process, addr: UserAddr) -> Result<Vec<u8>, Errno> {
    let path = read_until_nul(p, addr, PATH_MAX)?;
    if path.len() < PATH_MAX {
        Ok(path)
    } else {
        Err(Errno::ENAMETOOLONG)
    }
}
