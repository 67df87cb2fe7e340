//! What a handler may ask of the process it serves.
//!
//! The seL4 binary implements [`Process`] over a real job (direct-mapped
//! application memory, the TSC, the handler thread's view of the current
//! thread); tests implement it over plain vectors. Handlers see nothing else,
//! which is what makes them host-testable.

use super::args::UserAddr;
use super::errno::Errno;
use super::ship::Shipped;
use super::signal::SignalState;
use super::time::{Deadline, TscClock};
use crate::fd::FdTable;
use crate::futex::FutexTable;
use crate::mm::{AddressSpace, Backing};
use core::fmt;

/// A thread of the job, named by its Linux thread id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub i32);

/// Process and thread identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    /// Thread group id (`getpid`).
    pub pid: i32,
    /// Calling thread's id (`gettid`).
    pub tid: i32,
    /// Parent (`getppid`): the launcher on the Linux side, as far as the
    /// application can tell.
    pub ppid: i32,
    /// Process group.
    pub pgid: i32,
    /// Session.
    pub sid: i32,
}

/// User and group ids (real, effective, saved).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Real user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Saved set-user-id.
    pub suid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
    /// Saved set-group-id.
    pub sgid: u32,
}

/// The cores a job may run on (an LWK job owns its cores: the set is fixed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSet {
    /// Bit `n` set: core `n` is the job's.
    pub allowed: u64,
    /// Number of possible CPU ids (Linux's `nr_cpu_ids`), at most 64 here.
    pub possible: u32,
}

/// One resource limit (`struct rlimit`), `u64::MAX` meaning unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// Soft limit.
    pub cur: u64,
    /// Hard limit.
    pub max: u64,
}

/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;
/// Number of resources (`RLIM_NLIMITS`).
pub const RLIM_NLIMITS: usize = 16;
/// `RLIMIT_STACK`.
pub const RLIMIT_STACK: usize = 3;
/// `RLIMIT_CORE`.
pub const RLIMIT_CORE: usize = 4;
/// `RLIMIT_NOFILE`.
pub const RLIMIT_NOFILE: usize = 7;

/// The process's resource limits, indexed by `RLIMIT_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rlimits(pub [Rlimit; RLIM_NLIMITS]);

impl Default for Rlimits {
    /// Linux's defaults for a process started from a login shell, except the
    /// stack, which the personality sets to the size it actually mapped.
    fn default() -> Self {
        let unlimited = Rlimit {
            cur: RLIM_INFINITY,
            max: RLIM_INFINITY,
        };
        let mut limits = [unlimited; RLIM_NLIMITS];
        limits[RLIMIT_STACK] = Rlimit {
            cur: 8 << 20,
            max: RLIM_INFINITY,
        };
        limits[RLIMIT_CORE] = Rlimit {
            cur: 0,
            max: RLIM_INFINITY,
        };
        limits[RLIMIT_NOFILE] = Rlimit {
            cur: 1024,
            max: 1 << 20,
        };
        // MEMLOCK, MSGQUEUE, NICE, RTPRIO as Linux sets them.
        limits[8] = Rlimit {
            cur: 8 << 20,
            max: 8 << 20,
        };
        limits[12] = Rlimit {
            cur: 819_200,
            max: 819_200,
        };
        limits[13] = Rlimit { cur: 0, max: 0 };
        limits[14] = Rlimit { cur: 0, max: 0 };
        Self(limits)
    }
}

/// Events worth telling the operator about, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// A system call number with no table entry was used (answered ENOSYS).
    Unimplemented {
        /// The number.
        nr: u64,
        /// Its Linux name, if it is a known number.
        name: Option<&'static str>,
    },
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Unimplemented {
                nr,
                name: Some(name),
            } => {
                write!(f, "unimplemented system call {name} ({nr}): ENOSYS")
            }
            Report::Unimplemented { nr, name: None } => {
                write!(f, "unknown system call number {nr}: ENOSYS")
            }
        }
    }
}

/// The process (and calling thread) a system call is served for.
pub trait Process {
    /// Copies `buf.len()` bytes from the application at `addr`; `EFAULT` if
    /// any byte is not readable application memory.
    fn copy_in(&mut self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno>;
    /// Copies `bytes` to the application at `addr`; `EFAULT` if any byte is
    /// not writable application memory. Nothing is written on failure.
    fn copy_out(&mut self, addr: UserAddr, bytes: &[u8]) -> Result<(), Errno>;
    /// Identity of the process and calling thread.
    fn ids(&self) -> Ids;
    /// User and group ids.
    fn credentials(&self) -> Credentials;
    /// The clock calibration.
    fn clock(&self) -> &TscClock;
    /// The current TSC value (`rdtsc` on the application's core).
    fn read_tsc(&self) -> u64;
    /// TSC when the process started (its CPU clock's zero).
    fn process_start_tsc(&self) -> u64;
    /// TSC when the calling thread started.
    fn thread_start_tsc(&self) -> u64;
    /// Signal dispositions and the calling thread's mask.
    fn signals(&mut self) -> &mut SignalState;
    /// Resource limits.
    fn rlimits(&mut self) -> &mut Rlimits;
    /// The job's cores.
    fn affinity(&self) -> CpuSet;
    /// Host name for `uname`.
    fn nodename(&self) -> &str;
    /// Fills `buf` from the personality's entropy source.
    fn fill_random(&mut self, buf: &mut [u8]);
    /// Records `set_tid_address`'s pointer (cleared and futex-woken when the
    /// thread exits).
    fn set_clear_child_tid(&mut self, addr: UserAddr);
    /// Records the calling thread's robust futex list head.
    fn set_robust_list(&mut self, head: UserAddr);
    /// Tells the operator (console / job log).
    fn report(&mut self, event: Report);

    // Memory.

    /// The address space and the frames behind it, as two borrows so that
    /// the memory manager updates its books and the VSpace in one call. The
    /// process's threads share one address space: the implementation
    /// serialises memory calls across cores (one lock per process).
    fn mm(&mut self) -> (&mut AddressSpace, &mut dyn Backing);

    // Threads, futexes, sleeping.

    /// The process's futex table. The value check and the enqueue of one
    /// `FUTEX_WAIT` must be atomic with respect to every wake in the process
    /// (else a wake between them is lost): the implementation holds the
    /// process's futex lock from the first call of this method until the
    /// handler returns.
    fn futexes(&mut self) -> &mut FutexTable;
    /// Resumes these blocked threads with result 0: a futex wake reached
    /// them. Called with threads the futex table just dequeued.
    fn wake(&mut self, threads: &[ThreadId]);
    /// The calling thread's `clear_child_tid` (from `set_tid_address` or
    /// `CLONE_CHILD_CLEARTID`), null if none: zeroed and futex-woken when the
    /// thread exits.
    fn clear_child_tid(&self) -> UserAddr;
    /// Blocks the calling thread until `CLOCK_MONOTONIC` reaches `deadline`.
    /// The core is the thread's alone, so the implementation may simply wait
    /// on it. `Err(EINTR)` if the sleep was cut short (once signals are
    /// delivered); if the job is torn down meanwhile the result is ignored.
    fn sleep_until(&mut self, deadline: Deadline) -> Result<(), Errno>;

    // Registers and names.

    /// The calling thread's FS base (its TLS pointer).
    fn fs_base(&self) -> u64;
    /// Sets the calling thread's FS base; the seL4 side loads it into the
    /// thread's `tls_base` when it resumes the thread.
    fn set_fs_base(&mut self, base: u64);
    /// The calling thread's name (`comm`): at most 15 bytes, NUL-padded.
    fn thread_name(&mut self) -> &mut [u8; 16];
    /// The job's executable as the Linux side resolved it
    /// (`/proc/self/exe`).
    fn exe_path(&self) -> &str;

    // The console: standard descriptors 0–2.

    /// Whether standard descriptor `fd` (0–2) is a terminal on the Linux
    /// side (decides `ENOTTY` for terminal ioctls, hence `isatty`).
    fn is_terminal(&self, fd: i32) -> bool;
    /// Writes `bytes` to standard descriptor `fd` (0–2) and returns how many
    /// were taken; fewer than offered is a partial write, which the
    /// application sees.
    fn console_write(&mut self, fd: i32, bytes: &[u8]) -> Result<usize, Errno>;
    /// Reads from standard descriptor `fd` (0–2) into `buf`, blocking until
    /// at least a byte or end of file (0) is there.
    fn console_read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno>;
    /// The job's descriptor table.
    fn fds(&mut self) -> &mut FdTable;
    /// Ships `call` to the Linux VM and waits (bounded) for the answer:
    /// the result and how many bytes of `reply` it filled. `ENOSYS` when
    /// no Linux VM serves this job (standalone mode), `EIO` when it does
    /// not answer in time or the channel fails; a negative answer is its
    /// errno.
    fn ship(&mut self, call: Shipped<'_>, reply: &mut [u8]) -> Result<(u64, usize), Errno>;
}
