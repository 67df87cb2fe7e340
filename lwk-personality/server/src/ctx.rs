//! `Process` for the syscall table, over a running job: memory through the
//! memory manager and the personality's views of the job's frames, the TSC,
//! identities, the job channel, and bookkeeping.

use crate::job::{Job, Thread};
use core::sync::atomic::{AtomicBool, Ordering};
use lwk_personality::fd::FdTable;
use lwk_personality::futex::FutexTable;
use lwk_personality::mm::{Access, AddressSpace, Backing};
use lwk_personality::syscall::process::{CpuSet, Credentials, Ids, Report, Rlimits};
use lwk_personality::syscall::ship::Shipped;
use lwk_personality::syscall::signal::SignalState;
use lwk_personality::syscall::time::{Deadline, TscClock};
use lwk_personality::syscall::{Errno, Process, ThreadId, UserAddr};
use sel4::UserContext;
use sel4_root_task::println;

/// How long a read of stdin may wait for its first byte.
const STDIN_TIMEOUT_MS: u64 = 600_000;

/// The calling thread of a job, at a system call.
pub struct Ctx<'a> {
    pub job: &'a mut Job,
    pub regs: &'a mut UserContext,
    /// The calling thread's index in `job.threads` (its handler's index).
    pub thread: usize,
    /// The job's wake flags (see `JobCell::woken`).
    pub woken: &'a [AtomicBool],
    /// Set by `sleep_until`: the trap resumes the thread at this deadline
    /// instead of now, with the job's lock released meanwhile.
    pub sleep: Option<Deadline>,
}

impl Ctx<'_> {
    fn me(&self) -> &Thread {
        // The trap only builds a Ctx for a live thread.
        self.job.threads[self.thread]
            .as_ref()
            .expect("Ctx for a live thread")
    }

    fn me_mut(&mut self) -> &mut Thread {
        self.job.threads[self.thread]
            .as_mut()
            .expect("Ctx for a live thread")
    }
}

/// Copies between a job's memory and the personality, run by run.
pub fn copy_user(
    job: &Job,
    addr: u64,
    len: usize,
    access: Access,
    mut f: impl FnMut(*mut u8, usize, usize),
) -> Result<(), Errno> {
    let runs = job.mm.phys_runs(addr, len as u64, access)?;
    let mut done = 0usize;
    for (paddr, n) in runs {
        f(job.backing.view(paddr) as *mut u8, done, n as usize);
        done += n as usize;
    }
    if done == len {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

impl Process for Ctx<'_> {
    fn copy_in(&mut self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        let dst = buf.as_mut_ptr();
        copy_user(self.job, addr.0, buf.len(), Access::Read, |src, off, n| {
            // SAFETY: `src` is the personality's view of `n` checked bytes of
            // a job frame; `dst + off .. + n` is inside `buf`.
            unsafe { core::ptr::copy_nonoverlapping(src, dst.add(off), n) }
        })
    }

    fn copy_out(&mut self, addr: UserAddr, bytes: &[u8]) -> Result<(), Errno> {
        // `phys_runs` checks the whole range first: nothing is written on
        // failure.
        copy_user(
            self.job,
            addr.0,
            bytes.len(),
            Access::Write,
            |dst, off, n| {
                // SAFETY: as in copy_in, the other way round.
                unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr().add(off), dst, n) }
            },
        )
    }

    fn ids(&self) -> Ids {
        let pid = self.job.pid();
        Ids {
            pid,
            tid: self.me().tid,
            ppid: 1,
            pgid: pid,
            sid: pid,
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials::default()
    }

    fn clock(&self) -> &TscClock {
        &self.job.clock
    }

    fn read_tsc(&self) -> u64 {
        sel4_root_task::time::rdtsc()
    }

    fn process_start_tsc(&self) -> u64 {
        self.job.start_tsc
    }

    fn thread_start_tsc(&self) -> u64 {
        self.me().start_tsc
    }

    fn signals(&mut self) -> &mut SignalState {
        &mut self.job.signals
    }

    fn rlimits(&mut self) -> &mut Rlimits {
        &mut self.job.rlimits
    }

    fn affinity(&self) -> CpuSet {
        CpuSet {
            allowed: 1 << self.me().node,
            possible: lwk_handoff::MAX_NODES as u32,
        }
    }

    fn nodename(&self) -> &str {
        "lwk"
    }

    /// SplitMix64 over the TSC: unpredictable enough for `AT_RANDOM`-style
    /// seeding and hash tables, not a cryptographic source (QEMU's CPU
    /// model here has no RDRAND).
    fn fill_random(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.job.rng = self
                .job
                .rng
                .wrapping_add(0x9e37_79b9_7f4a_7c15 ^ sel4_root_task::time::rdtsc());
            let mut z = self.job.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }

    fn set_clear_child_tid(&mut self, addr: UserAddr) {
        self.me_mut().clear_child_tid = addr.0;
    }

    fn set_robust_list(&mut self, head: UserAddr) {
        self.me_mut().robust_list = head.0;
    }

    fn report(&mut self, event: Report) {
        println!("job {}: {event}", self.job.id);
    }

    fn mm(&mut self) -> (&mut AddressSpace, &mut dyn Backing) {
        (&mut self.job.mm, &mut self.job.backing)
    }

    fn futexes(&mut self) -> &mut FutexTable {
        &mut self.job.futexes
    }

    /// Flags each thread; its handler, waiting with the lock released,
    /// resumes it.
    fn wake(&mut self, threads: &[ThreadId]) {
        for &t in threads {
            if let Some(k) = self.job.thread_index(t) {
                if let Some(th) = self.job.threads[k].as_mut() {
                    th.blocked_untimed = false;
                }
                self.woken[k].store(true, Ordering::Release);
            }
        }
    }

    fn clear_child_tid(&self) -> UserAddr {
        UserAddr(self.me().clear_child_tid)
    }

    /// The core is the thread's alone: its handler waits on it, after the
    /// system call returns and with the job's lock released (other threads
    /// go on meanwhile); see `trap.rs`.
    fn sleep_until(&mut self, deadline: Deadline) -> Result<(), Errno> {
        self.sleep = Some(deadline);
        Ok(())
    }

    fn fs_base(&self) -> u64 {
        self.regs.tls_base
    }

    fn set_fs_base(&mut self, base: u64) {
        self.regs.tls_base = base;
    }

    fn thread_name(&mut self) -> &mut [u8; 16] {
        &mut self.job.name
    }

    fn exe_path(&self) -> &str {
        &self.job.path
    }

    fn is_terminal(&self, fd: i32) -> bool {
        (0..3).contains(&fd) && self.job.tty[fd as usize]
    }

    fn console_write(&mut self, fd: i32, bytes: &[u8]) -> Result<usize, Errno> {
        let kind = if fd == 2 {
            crate::jobchan::STDERR
        } else {
            crate::jobchan::STDOUT
        };
        match &self.job.channel {
            Some(ch) => ch.send(kind, bytes),
            None => println!(
                "job {} fd {fd}: {}",
                self.job.id,
                core::str::from_utf8(bytes).unwrap_or("<binary>")
            ),
        }
        Ok(bytes.len())
    }

    fn fds(&mut self) -> &mut FdTable {
        &mut self.job.fds
    }

    fn ship(&mut self, call: Shipped<'_>, reply: &mut [u8]) -> Result<(u64, usize), Errno> {
        let remote = self.job.remote;
        match &mut self.job.link {
            Some(link) => link.call(remote, call, reply),
            None => Err(Errno::ENOSYS),
        }
    }

    fn console_read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
        if fd != 0 {
            return Err(Errno::EBADF);
        }
        let Some(ch) = &self.job.channel else {
            return Ok(0);
        };
        let deadline = sel4_root_task::time::Deadline::after_ms(STDIN_TIMEOUT_MS);
        self.job
            .stdin
            .read(ch, buf, &deadline)
            .map_err(|()| Errno::EIO)
    }
}
