//! The system-call table: one line per call, indexed by Linux x86_64 number.
//!
//! Each line says what the call is, who answers it and how completely —
//! the coverage is auditable at a glance, and the same table drives
//! dispatch, `docs/syscalls.md` (see `doc.rs`) and trace names (gVisor's
//! `linux64.go` is the model). A number without a line is answered `ENOSYS`
//! and reported once.

use super::errno::Errno;
use super::process::{Process, Report};
use super::{
    files, fs, futex, identity as id, info, io, mm, nr, proc, signal, thread, time, x86_64,
};
use super::{Args, Handler, SysError, SysResult};

/// How completely a call is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// As Linux does it.
    Full,
    /// Works for what programs commonly need; the note says what is missing.
    Partial(&'static str),
    /// Deliberately answered with this error; the note says why.
    Stub(Errno, &'static str),
}

/// Who answers a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The personality, on the application's core.
    Local,
    /// Forwarded to the Linux VM (function shipping).
    Shipped,
}

/// One line of the table.
#[derive(Clone, Copy, Debug)]
pub struct Syscall {
    /// Linux x86_64 number.
    pub nr: usize,
    /// Linux name.
    pub name: &'static str,
    /// The handler (unused for stubs).
    pub handler: Handler,
    /// How complete.
    pub support: Support,
    /// Who answers.
    pub route: Route,
}

const fn full(nr: usize, name: &'static str, handler: Handler) -> Syscall {
    Syscall {
        nr,
        name,
        handler,
        support: Support::Full,
        route: Route::Local,
    }
}

const fn partial(nr: usize, name: &'static str, handler: Handler, note: &'static str) -> Syscall {
    Syscall {
        nr,
        name,
        handler,
        support: Support::Partial(note),
        route: Route::Local,
    }
}

const fn stub(nr: usize, name: &'static str, errno: Errno, note: &'static str) -> Syscall {
    Syscall {
        nr,
        name,
        handler: refuse,
        support: Support::Stub(errno, note),
        route: Route::Local,
    }
}

const fn shipped(nr: usize, name: &'static str, handler: Handler, note: &'static str) -> Syscall {
    Syscall {
        nr,
        name,
        handler,
        support: Support::Partial(note),
        route: Route::Shipped,
    }
}

const fn shipped_full(nr: usize, name: &'static str, handler: Handler) -> Syscall {
    Syscall {
        nr,
        name,
        handler,
        support: Support::Full,
        route: Route::Shipped,
    }
}

/// Stand-in handler of stubs; dispatch answers from the table first.
fn refuse(_: &mut dyn Process, _: Args) -> SysResult {
    Err(Errno::ENOSYS.into())
}

/// The table, in number order.
#[rustfmt::skip]
pub const TABLE: &[Syscall] = &[
    shipped_full(nr::READ, "read", files::read),
    shipped_full(nr::WRITE, "write", files::write),
    shipped_full(nr::OPEN, "open", fs::open),
    shipped_full(nr::CLOSE, "close", files::close),
    shipped_full(nr::STAT, "stat", fs::stat),
    shipped_full(nr::FSTAT, "fstat", files::fstat),
    shipped_full(nr::LSTAT, "lstat", fs::lstat),
    partial(nr::POLL, "poll", io::poll, "never waits: stdout/stderr writable, stdin readable, files ready both ways, closed descriptors POLLNVAL"),
    shipped_full(nr::LSEEK, "lseek", files::lseek),
    partial(nr::MMAP, "mmap", mm::mmap, "anonymous only, premapped with 2 MiB pages (a 4 KiB mmap takes 2 MiB of the pool); file mappings ENODEV until files come from the Linux VM"),
    partial(nr::MPROTECT, "mprotect", mm::mprotect, "rights per 2 MiB page are the union of the mappings on it (exact for whole mappings and 4 KiB image pages); PROT_NONE reservations are backed when made accessible"),
    partial(nr::MUNMAP, "munmap", mm::munmap, "a 2 MiB page is kept (and stays accessible) until the last mapping on it goes"),
    full(nr::BRK, "brk", mm::brk),
    partial(nr::RT_SIGACTION, "rt_sigaction", signal::rt_sigaction, "bookkeeping only: signals are not delivered yet"),
    partial(nr::RT_SIGPROCMASK, "rt_sigprocmask", signal::rt_sigprocmask, "bookkeeping only: signals are not delivered yet"),
    partial(nr::IOCTL, "ioctl", files::ioctl, "TCGETS and TIOCGWINSZ (80x24) on console streams that are terminals; everything else ENOTTY"),
    shipped_full(nr::PREAD64, "pread64", files::pread64),
    shipped_full(nr::PWRITE64, "pwrite64", files::pwrite64),
    shipped_full(nr::READV, "readv", files::readv),
    shipped_full(nr::WRITEV, "writev", files::writev),
    shipped_full(nr::ACCESS, "access", fs::access),
    full(nr::SCHED_YIELD, "sched_yield", info::sched_yield),
    partial(nr::MREMAP, "mremap", mm::mremap, "moves frames, never copies: MREMAP_FIXED needs the same offset within the page (else EINVAL), a range sharing a page with another mapping cannot move (ENOMEM); MREMAP_DONTUNMAP EINVAL"),
    partial(nr::MADVISE, "madvise", mm::madvise, "MADV_DONTNEED zeroes the range; other advice accepted without effect (no swap, no demand paging)"),
    full(nr::DUP, "dup", files::dup),
    full(nr::DUP2, "dup2", files::dup2),
    full(nr::NANOSLEEP, "nanosleep", time::nanosleep),
    full(nr::GETPID, "getpid", id::getpid),
    partial(nr::CLONE, "clone", thread::clone, "threads only (CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM); a new process ENOSYS; one thread per free application core, else EAGAIN"),
    stub(nr::FORK, "fork", Errno::ENOSYS, "an LWK job is one process"),
    stub(nr::VFORK, "vfork", Errno::ENOSYS, "an LWK job is one process"),
    partial(nr::EXIT, "exit", proc::exit, "clears and wakes clear_child_tid; the robust futex list is not walked"),
    full(nr::UNAME, "uname", info::uname),
    shipped(nr::FCNTL, "fcntl", files::fcntl, "F_DUPFD[_CLOEXEC], F_GETFD, F_SETFD local; F_GETFL, F_SETFL and record locks (served as open-file-description locks) shipped"),
    shipped_full(nr::FSYNC, "fsync", files::fsync),
    shipped_full(nr::FDATASYNC, "fdatasync", files::fdatasync),
    shipped_full(nr::FTRUNCATE, "ftruncate", files::ftruncate),
    shipped_full(nr::GETCWD, "getcwd", fs::getcwd),
    shipped_full(nr::CHDIR, "chdir", fs::chdir),
    shipped_full(nr::RENAME, "rename", fs::rename),
    shipped_full(nr::MKDIR, "mkdir", fs::mkdir),
    shipped_full(nr::RMDIR, "rmdir", fs::rmdir),
    shipped_full(nr::CREAT, "creat", fs::creat),
    shipped_full(nr::UNLINK, "unlink", fs::unlink),
    shipped(nr::READLINK, "readlink", fs::readlink, "/proc/self/exe answered locally"),
    full(nr::GETTIMEOFDAY, "gettimeofday", time::gettimeofday),
    partial(nr::GETRLIMIT, "getrlimit", info::getrlimit, "limits are recorded, not enforced"),
    partial(nr::GETRUSAGE, "getrusage", info::getrusage, "user time = time since start (dedicated cores), system time 0, page faults 0 by construction, maxrss = memory mapped now"),
    full(nr::GETUID, "getuid", id::getuid),
    full(nr::GETGID, "getgid", id::getgid),
    full(nr::GETEUID, "geteuid", id::geteuid),
    full(nr::GETEGID, "getegid", id::getegid),
    full(nr::GETPPID, "getppid", id::getppid),
    full(nr::GETPGRP, "getpgrp", id::getpgrp),
    full(nr::GETGROUPS, "getgroups", id::getgroups),
    full(nr::GETRESUID, "getresuid", id::getresuid),
    full(nr::GETRESGID, "getresgid", id::getresgid),
    partial(nr::GETPGID, "getpgid", id::getpgid, "own process only (a job sees no other)"),
    partial(nr::GETSID, "getsid", id::getsid, "own process only (a job sees no other)"),
    partial(nr::PRCTL, "prctl", proc::prctl, "PR_SET_NAME and PR_GET_NAME; other options EINVAL"),
    partial(nr::ARCH_PRCTL, "arch_prctl", x86_64::arch_prctl, "FS base only: seL4 5.0's x86_64 thread context has no GS base (ARCH_SET_GS EINVAL, ARCH_GET_GS reads 0)"),
    partial(nr::SETRLIMIT, "setrlimit", info::setrlimit, "limits are recorded, not enforced"),
    full(nr::GETTID, "gettid", id::gettid),
    full(nr::TIME, "time", time::time),
    partial(nr::FUTEX, "futex", futex::futex, "WAIT, WAKE, their _BITSET forms, REQUEUE, CMP_REQUEUE; private and shared alike (one process); WAKE_OP and PI futexes ENOSYS"),
    partial(nr::SCHED_SETAFFINITY, "sched_setaffinity", info::sched_setaffinity, "threads are pinned and the job's cores fixed: only a mask allowing all of them is accepted, else EINVAL"),
    partial(nr::SCHED_GETAFFINITY, "sched_getaffinity", info::sched_getaffinity, "own threads only; at most 64 CPUs"),
    shipped(nr::GETDENTS64, "getdents64", files::getdents64, "at most 64 KiB of records per call"),
    partial(nr::SET_TID_ADDRESS, "set_tid_address", proc::set_tid_address, "recorded; cleared and woken at thread exit"),
    partial(nr::CLOCK_GETTIME, "clock_gettime", time::clock_gettime, "TSC-based; CPU clocks = wall time on a dedicated core; no clocks of other processes"),
    partial(nr::CLOCK_GETRES, "clock_getres", time::clock_getres, "1 ns for every clock"),
    partial(nr::CLOCK_NANOSLEEP, "clock_nanosleep", time::clock_nanosleep, "the process CPU clock runs at wall speed; thread CPU, raw and coarse clocks EOPNOTSUPP as on Linux"),
    full(nr::EXIT_GROUP, "exit_group", proc::exit_group),
    partial(nr::TGKILL, "tgkill", proc::tgkill, "to the calling thread only: ends the job as killed by the signal (no delivery yet)"),
    shipped_full(nr::OPENAT, "openat", fs::openat),
    shipped_full(nr::MKDIRAT, "mkdirat", fs::mkdirat),
    shipped_full(nr::NEWFSTATAT, "newfstatat", fs::newfstatat),
    shipped_full(nr::UNLINKAT, "unlinkat", fs::unlinkat),
    shipped_full(nr::RENAMEAT, "renameat", fs::renameat),
    shipped(nr::READLINKAT, "readlinkat", fs::readlinkat, "/proc/self/exe answered locally"),
    shipped_full(nr::FACCESSAT, "faccessat", fs::faccessat),
    partial(nr::SET_ROBUST_LIST, "set_robust_list", proc::set_robust_list, "recorded; the list is not walked at thread death"),
    full(nr::DUP3, "dup3", files::dup3),
    partial(nr::PRLIMIT64, "prlimit64", info::prlimit64, "own process only; limits recorded, not enforced"),
    full(nr::GETCPU, "getcpu", info::getcpu),
    shipped(nr::RENAMEAT2, "renameat2", fs::renameat2, "no flags (RENAME_NOREPLACE, RENAME_EXCHANGE: EINVAL)"),
    full(nr::GETRANDOM, "getrandom", info::getrandom),
    shipped(nr::STATX, "statx", fs::statx, "ENOSYS on console streams, so libraries fall back to fstat"),
    stub(nr::RSEQ, "rseq", Errno::ENOSYS, "restartable sequences need preemption, which an LWK core does not do; glibc falls back"),
    stub(nr::CLONE3, "clone3", Errno::ENOSYS, "glibc falls back to clone, which creates threads"),
    shipped_full(nr::FACCESSAT2, "faccessat2", fs::faccessat2),
];

/// Marks an empty slot of [`LOOKUP`].
const NONE: u16 = u16::MAX;

/// Table index by system-call number, computed at compile time; building it
/// also rejects duplicate or out-of-range numbers at compile time.
static LOOKUP: [u16; nr::COUNT] = index(TABLE);

const fn index(table: &[Syscall]) -> [u16; nr::COUNT] {
    let mut lookup = [NONE; nr::COUNT];
    let mut i = 0;
    while i < table.len() {
        let n = table[i].nr;
        assert!(n < nr::COUNT, "system call number beyond nr::COUNT");
        assert!(lookup[n] == NONE, "two table lines for one number");
        lookup[n] = i as u16;
        i += 1;
    }
    lookup
}

/// The table line for `nr`, if any.
pub fn lookup(nr: u64) -> Option<&'static Syscall> {
    let slot = *LOOKUP.get(usize::try_from(nr).ok()?)?;
    (slot != NONE).then(|| &TABLE[usize::from(slot)])
}

/// Numbers below this get their own "already reported" bit; the rest share
/// one (they are not Linux x86_64 calls at all: x32 or garbage).
const REPORTED_BITS: usize = 512;

/// Dispatches system calls and remembers what it has reported.
#[derive(Clone, Debug)]
pub struct Dispatcher {
    reported: [u64; REPORTED_BITS / 64],
    reported_out_of_range: bool,
    unimplemented: u64,
}

impl Default for Dispatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Dispatcher {
    /// A dispatcher that has reported nothing yet.
    pub const fn new() -> Self {
        Self {
            reported: [0; REPORTED_BITS / 64],
            reported_out_of_range: false,
            unimplemented: 0,
        }
    }

    /// Runs system call `nr` with `args` for `p`.
    pub fn dispatch(&mut self, p: &mut dyn Process, nr: u64, args: Args) -> SysResult {
        match lookup(nr) {
            Some(Syscall {
                support: Support::Stub(errno, _),
                ..
            }) => Err(SysError::Errno(*errno)),
            Some(call) => (call.handler)(p, args),
            None => {
                self.unimplemented += 1;
                if self.first_report(nr) {
                    let name = usize::try_from(nr).ok().and_then(nr::name);
                    p.report(Report::Unimplemented { nr, name });
                }
                Err(Errno::ENOSYS.into())
            }
        }
    }

    /// How many calls were answered `ENOSYS` for lack of a table line.
    pub fn unimplemented_calls(&self) -> u64 {
        self.unimplemented
    }

    fn first_report(&mut self, nr: u64) -> bool {
        match usize::try_from(nr) {
            Ok(n) if n < REPORTED_BITS => {
                let (word, bit) = (n / 64, 1u64 << (n % 64));
                let first = self.reported[word] & bit == 0;
                self.reported[word] |= bit;
                first
            }
            _ => !core::mem::replace(&mut self.reported_out_of_range, true),
        }
    }
}
