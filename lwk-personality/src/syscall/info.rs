//! System information and limits: `uname`, resource limits, CPU affinity,
//! random bytes, `sched_yield`.

use super::args::Args;
use super::errno::Errno;
use super::identity::check_own_pid;
use super::process::{Process, Rlimit, RLIM_NLIMITS};
use super::{read_words, write_words, SysResult};
use alloc::vec::Vec;

/// Length of each `struct new_utsname` field.
const UTS_LEN: usize = 65;

/// The kernel we claim to be. glibc and musl only need a plausible Linux;
/// the release is the Debian 12 kernel the Linux VM runs, so that programs
/// that look at it see the same on both sides.
pub const SYSNAME: &str = "Linux";
/// `uname -r`.
pub const RELEASE: &str = "6.1.0-lwk";
/// `uname -v`.
pub const VERSION: &str = "#1 SMP LWK personality on seL4";
/// `uname -m`.
pub const MACHINE: &str = "x86_64";

/// Implements Linux `uname(2)`; local.
pub fn uname(p: &mut dyn Process, args: Args) -> SysResult {
    let mut uts = [0u8; 6 * UTS_LEN];
    let node = p.nodename();
    let fields = [SYSNAME, node, RELEASE, VERSION, MACHINE, "(none)"];
    for (slot, value) in uts.chunks_exact_mut(UTS_LEN).zip(fields) {
        // Truncate to leave the terminating NUL, as the kernel guarantees.
        let n = value.len().min(UTS_LEN - 1);
        slot[..n].copy_from_slice(&value.as_bytes()[..n]);
    }
    p.copy_out(args.ptr(0), &uts)?;
    Ok(0)
}

fn resource(r: u32) -> Result<usize, Errno> {
    let r = r as usize;
    if r < RLIM_NLIMITS {
        Ok(r)
    } else {
        Err(Errno::EINVAL)
    }
}

/// The shared core of the rlimit calls: optionally read a new limit,
/// optionally write the old one, then store the new one.
fn rlimit(p: &mut dyn Process, res: u32, new: super::UserAddr, old: super::UserAddr) -> SysResult {
    let res = resource(res)?;
    let new = if new.is_null() {
        None
    } else {
        let [cur, max] = read_words::<2>(p, new)?;
        if cur > max {
            return Err(Errno::EINVAL.into());
        }
        Some(Rlimit { cur, max })
    };
    let current = p.rlimits().0[res];
    if !old.is_null() {
        write_words(p, old, &[current.cur, current.max])?;
    }
    if let Some(limit) = new {
        p.rlimits().0[res] = limit;
    }
    Ok(0)
}

/// Implements Linux `getrlimit(2)`; local.
pub fn getrlimit(p: &mut dyn Process, args: Args) -> SysResult {
    rlimit(p, args.uint(0), super::UserAddr::NULL, args.ptr(1))
}

/// Implements Linux `setrlimit(2)`; local. Limits are recorded and reported
/// back, not enforced.
pub fn setrlimit(p: &mut dyn Process, args: Args) -> SysResult {
    rlimit(p, args.uint(0), args.ptr(1), super::UserAddr::NULL)
}

/// Implements Linux `prlimit64(2)`; local, own process only.
pub fn prlimit64(p: &mut dyn Process, args: Args) -> SysResult {
    check_own_pid(p, args.pid(0))?;
    rlimit(p, args.uint(1), args.ptr(2), args.ptr(3))
}

/// Implements Linux `sched_getaffinity(2)`; local. Returns the number of
/// bytes written, as the raw system call does.
pub fn sched_getaffinity(p: &mut dyn Process, args: Args) -> SysResult {
    let (pid, len, mask) = (args.pid(0), args.len(1), args.ptr(2));
    if pid != 0 && pid != p.ids().tid && pid != p.ids().pid {
        return Err(Errno::ESRCH.into());
    }
    let cpus = p.affinity();
    let possible = cpus.possible as usize;
    if len.saturating_mul(8) < possible || len % 8 != 0 {
        return Err(Errno::EINVAL.into());
    }
    // Linux copies `cpumask_size()` bytes: whole longs covering nr_cpu_ids.
    let size = possible.div_ceil(64) * 8;
    let bytes = cpus.allowed.to_le_bytes();
    let n = len.min(size).min(bytes.len());
    p.copy_out(mask, &bytes[..n])?;
    Ok(n as u64)
}

/// Implements Linux `sched_setaffinity(2)`; local. A job's threads are
/// pinned one per core and the job's cores are fixed, so the only request
/// that can be honoured is one that allows every core of the job (Linux
/// intersects the mask with the allowed set, so a superset means the same);
/// anything narrower is `EINVAL`.
pub fn sched_setaffinity(p: &mut dyn Process, args: Args) -> SysResult {
    let (pid, len, mask) = (args.pid(0), args.len(1), args.ptr(2));
    if pid != 0 && pid != p.ids().tid && pid != p.ids().pid {
        return Err(Errno::ESRCH.into());
    }
    // Linux copies min(len, cpumask_size) bytes and zero-fills the rest.
    let mut bytes = [0u8; 8];
    let n = len.min(bytes.len());
    p.copy_in(mask, &mut bytes[..n])?;
    let cpus = p.affinity();
    let requested = u64::from_le_bytes(bytes);
    if requested & cpus.allowed != cpus.allowed {
        return Err(Errno::EINVAL.into());
    }
    Ok(0)
}

/// Implements Linux `sched_yield(2)`; local. A job's thread owns its core:
/// there is nobody to yield to.
pub fn sched_yield(_: &mut dyn Process, _: Args) -> SysResult {
    Ok(0)
}

/// `getrandom` flags Linux knows: `GRND_NONBLOCK`, `GRND_RANDOM`,
/// `GRND_INSECURE`.
const GRND_KNOWN: u32 = 0x1 | 0x2 | 0x4;
/// Linux returns at most this much per call (`MAX_RW_COUNT`-like cap for
/// `getrandom`, 32 MiB).
const GETRANDOM_MAX: usize = 32 << 20;

/// Implements Linux `getrandom(2)`; local, from the personality's entropy
/// source. Fills in chunks so no large buffer is needed.
pub fn getrandom(p: &mut dyn Process, args: Args) -> SysResult {
    let (buf, len, flags) = (args.ptr(0), args.len(1), args.uint(2));
    if flags & !GRND_KNOWN != 0 {
        return Err(Errno::EINVAL.into());
    }
    let len = len.min(GETRANDOM_MAX);
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len());
        p.fill_random(&mut chunk[..n]);
        let at = buf.offset(done as u64).ok_or(Errno::EFAULT)?;
        if let Err(e) = p.copy_out(at, &chunk[..n]) {
            // Linux returns what it copied before the fault, if anything.
            return if done == 0 {
                Err(e.into())
            } else {
                Ok(done as u64)
            };
        }
        done += n;
    }
    Ok(len as u64)
}

/// `RUSAGE_SELF`, `RUSAGE_CHILDREN`, `RUSAGE_THREAD`.
const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;

/// Implements Linux `getrusage(2)`; local. User time is the time since the
/// process (or thread) started — its cores are its own, so it is never
/// descheduled — and system time 0 (the personality's work on the core is
/// not told apart yet). Page faults are 0 by construction: memory is
/// mapped when it is allocated, and a fault ends the job. `ru_maxrss` is
/// the memory mapped now, in KiB (nothing is ever paged out, so the peak
/// is at least this). Children: none (no `fork`).
pub fn getrusage(p: &mut dyn Process, args: Args) -> SysResult {
    let since = match args.int(0) {
        RUSAGE_SELF => Some(p.process_start_tsc()),
        RUSAGE_THREAD => Some(p.thread_start_tsc()),
        RUSAGE_CHILDREN => None,
        _ => return Err(Errno::EINVAL.into()),
    };
    let mut words = [0u64; 18];
    if let Some(since) = since {
        let ns = p.clock().ns_between(since, p.read_tsc());
        words[0] = ns / 1_000_000_000;
        words[1] = ns % 1_000_000_000 / 1000;
        words[4] = p.mm().0.pages().bytes() / 1024;
    }
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    p.copy_out(args.ptr(1), &bytes)?;
    Ok(0)
}

/// Implements Linux `getcpu(2)`; local: the thread's core (each thread is
/// pinned to one), NUMA node 0.
pub fn getcpu(p: &mut dyn Process, args: Args) -> SysResult {
    let cpu = p.affinity().allowed.trailing_zeros();
    if !args.ptr(0).is_null() {
        p.copy_out(args.ptr(0), &cpu.to_le_bytes())?;
    }
    if !args.ptr(1).is_null() {
        p.copy_out(args.ptr(1), &0u32.to_le_bytes())?;
    }
    Ok(0)
}
