//! Linux system-call emulation: one table, typed arguments and errors, and
//! handlers that run against a [`Process`] so the host can test them.
//!
//! The trap handler (in the seL4 binary) reads the registers, calls
//! [`Dispatcher::dispatch`] with RAX and the six arguments, and applies the
//! [`SysError`]'s fate: an [`Errno`] becomes `-errno` in RAX, [`SysError::Exit`]
//! ends the thread or the job, [`SysError::Kill`] ends the job with a report.
//! That policy lives in one place, as in Hubris's `UserError`.

pub mod args;
pub mod errno;
pub mod identity;
pub mod info;
pub mod nr;
pub mod proc;
pub mod process;
pub mod signal;
pub mod table;
pub mod time;

use crate::mm::MapFail;
pub use args::{Args, UserAddr};
pub use errno::Errno;
pub use process::Process;
pub use table::{Dispatcher, Route, Support, Syscall};

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
}

/// Why a job is ended by the personality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobFault {
    /// A call that must not be emulated half-way (reason attached).
    Unsupported(&'static str),
    /// The memory backing refused to change an existing mapping: the
    /// application's VSpace may no longer match the memory manager's books.
    Mapping(MapFail),
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
