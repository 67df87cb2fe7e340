//! `Process` for the syscall table, over a running job: memory through the
//! direct map, the TSC, identities and bookkeeping.

use crate::job::Job;
use lwk_personality::syscall::process::{CpuSet, Credentials, Ids, Report, Rlimits};
use lwk_personality::syscall::signal::SignalState;
use lwk_personality::syscall::time::TscClock;
use lwk_personality::syscall::{Errno, Process, UserAddr};
use sel4::UserContext;
use sel4_root_task::println;

/// The calling thread of a job, at a system call.
pub struct Ctx<'a> {
    pub job: &'a mut Job,
    pub regs: &'a mut UserContext,
}

impl Process for Ctx<'_> {
    fn copy_in(&mut self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        let dst = buf.as_mut_ptr();
        self.job
            .space
            .mem
            .copy(addr.0, buf.len(), false, |src, off, n| {
                // SAFETY: `src` is a direct-map address with `n` bytes of a
                // job frame; `dst + off` is inside `buf`.
                unsafe { core::ptr::copy_nonoverlapping(src, dst.add(off), n) }
            })
            .ok_or(Errno::EFAULT)
    }

    fn copy_out(&mut self, addr: UserAddr, bytes: &[u8]) -> Result<(), Errno> {
        // Nothing is written on failure: check the whole range first.
        self.job
            .space
            .mem
            .copy(addr.0, bytes.len(), true, |_, _, _| {})
            .ok_or(Errno::EFAULT)?;
        self.job
            .space
            .mem
            .copy(addr.0, bytes.len(), true, |dst, off, n| {
                // SAFETY: as in copy_in, the other way round.
                unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr().add(off), dst, n) }
            });
        Ok(())
    }

    fn ids(&self) -> Ids {
        let pid = 1000 + self.job.id as i32;
        Ids {
            pid,
            tid: pid,
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
        self.job.start_tsc
    }

    fn signals(&mut self) -> &mut SignalState {
        &mut self.job.signals
    }

    fn rlimits(&mut self) -> &mut Rlimits {
        &mut self.job.rlimits
    }

    fn affinity(&self) -> CpuSet {
        CpuSet {
            allowed: 1 << self.job.node,
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
        self.job.clear_child_tid = addr.0;
    }

    fn set_robust_list(&mut self, head: UserAddr) {
        self.job.robust_list = head.0;
    }

    fn report(&mut self, event: Report) {
        println!("job {}: {event}", self.job.id);
    }
}
