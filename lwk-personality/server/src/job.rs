//! One job's state, shared by the control thread (which creates and
//! destroys it) and the handler threads of its nodes (which serve the
//! system calls and faults of its threads while it runs).
//!
//! A job is one process with at most one thread per application node; the
//! thread on node `k` faults to handler `k`, so a handler knows which
//! thread it serves from its own index. Handlers of the same job run on
//! different cores at once, so the job sits behind a spin lock held for
//! the length of one system call. A blocked thread's handler waits with
//! the lock released (see `handlers.rs`); its wake flag lives outside the
//! lock so that wait does not contend with the running threads.
//!
//! Ownership moves with atomics: the control thread publishes the job in
//! every handler's slot before starting the first thread; from then on the
//! handlers share it under the lock, until one ends the job and sets
//! `done`; the control thread then withdraws it from the slots, waits until
//! no handler is inside, and takes it back.

use crate::app::AppSpace;
use crate::backing::JobBacking;
use crate::jobchan::{JobChannel, StdinReader};
use crate::link::Link;
use alloc::string::String;
use channel::JobId;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use lwk_handoff::{Handler, MAX_NODES};
use lwk_personality::fd::FdTable;
use lwk_personality::futex::FutexTable;
use lwk_personality::loader::rewrite::RewriteReport;
use lwk_personality::mm::AddressSpace;
use lwk_personality::syscall::process::Rlimits;
use lwk_personality::syscall::signal::SignalState;
use lwk_personality::syscall::time::TscClock;
use lwk_personality::syscall::{Dispatcher, ThreadId};
use sel4::cap_type::Tcb;
use sel4::Cap;

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    /// Ended by signal `signal` (a fault), at `ip`, touching `addr`.
    Signaled {
        signal: i32,
        ip: u64,
        addr: u64,
        what: &'static str,
    },
}

/// One thread of a job, on the node of the handler with the same index.
pub struct Thread {
    pub tid: i32,
    pub tcb: Cap<Tcb>,
    pub node: u64,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID`.
    pub clear_child_tid: u64,
    pub robust_list: u64,
    pub start_tsc: u64,
    /// Stopped in a wait no deadline ends (deadlock detection).
    pub blocked_untimed: bool,
}

/// Everything a handler needs to serve a job.
pub struct Job {
    pub id: u64,
    /// The executable's path (`/proc/self/exe`, `AT_EXECFN`, reports).
    pub path: String,
    /// The handlers, one per application node; thread `k` runs on
    /// `handlers[k].node`.
    pub handlers: &'static [Handler],
    pub space: AppSpace,
    /// Indexed like `handlers`; `None` where no thread runs.
    pub threads: [Option<Thread>; MAX_NODES],
    pub next_tid: i32,
    pub mm: AddressSpace,
    pub backing: JobBacking,
    pub rewrite: RewriteReport,
    pub dispatcher: Dispatcher,
    pub signals: SignalState,
    pub rlimits: Rlimits,
    pub futexes: FutexTable,
    pub clock: TscClock,
    pub start_tsc: u64,
    pub channel: Option<JobChannel>,
    pub stdin: StdinReader,
    /// fds 0–2 are terminals (as the launching command's were).
    pub tty: [bool; 3],
    /// What the program's descriptors stand for.
    pub fds: FdTable,
    /// The Linux VM, lent to the job when it was launched from there.
    pub link: Option<Link>,
    /// The job's id on the Linux side.
    pub remote: JobId,
    pub syscalls: u64,
    pub outcome: Option<Outcome>,
    pub name: [u8; 16],
    pub rng: u64,
}

impl Job {
    /// The process id; the first thread's id is the same.
    pub fn pid(&self) -> i32 {
        1000 + self.id as i32
    }

    /// Index of the thread with id `tid`.
    pub fn thread_index(&self, tid: ThreadId) -> Option<usize> {
        self.threads
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| t.tid == tid.0))
    }

    pub fn live_threads(&self) -> usize {
        self.threads.iter().flatten().count()
    }

    /// Stops every thread (their TCBs stay until teardown revokes them).
    pub fn suspend_all(&self) {
        for t in self.threads.iter().flatten() {
            let _ = t.tcb.tcb_suspend();
        }
    }

    /// Ends the job: stops its threads and records how it ended. Called
    /// with the lock held, so no handler resumes a thread afterwards.
    pub fn end(&mut self, outcome: Outcome) {
        self.suspend_all();
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
        }
    }
}

/// A job handed to the handler threads.
pub struct Slot {
    job: AtomicPtr<JobCell>,
}

/// The job behind the ownership protocol.
pub struct JobCell {
    job: UnsafeCell<Job>,
    locked: AtomicBool,
    done: AtomicBool,
    /// Handlers inside [`JobCell::enter`] .. [`JobCell::leave`].
    busy: AtomicU32,
    /// Set (under the lock) when a futex wake picks thread `k`; read
    /// without it by the blocked thread's handler.
    pub woken: [AtomicBool; MAX_NODES],
}

// SAFETY: `job` is only reached through `lock` (a spin lock) while
// published, and through `into_inner` (by value) after.
unsafe impl Sync for JobCell {}

/// Exclusive access to a published job.
pub struct JobGuard<'a> {
    cell: &'a JobCell,
}

impl Deref for JobGuard<'_> {
    type Target = Job;
    fn deref(&self) -> &Job {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.cell.job.get() }
    }
}

impl DerefMut for JobGuard<'_> {
    fn deref_mut(&mut self) -> &mut Job {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.cell.job.get() }
    }
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        self.cell.locked.store(false, Ordering::Release);
    }
}

impl JobCell {
    pub fn new(job: Job) -> Self {
        JobCell {
            job: UnsafeCell::new(job),
            locked: AtomicBool::new(false),
            done: AtomicBool::new(false),
            busy: AtomicU32::new(0),
            woken: [const { AtomicBool::new(false) }; MAX_NODES],
        }
    }

    /// Takes the job's lock (spinning: it is held for one system call, on
    /// another core).
    pub fn lock(&self) -> JobGuard<'_> {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        JobGuard { cell: self }
    }

    /// The lock if it is free now (diagnostics: never waits).
    pub fn try_lock(&self) -> Option<JobGuard<'_>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| JobGuard { cell: self })
    }

    /// A handler starts serving this job; false if the job was withdrawn
    /// meanwhile (then it must not touch it).
    pub fn enter(&self, slot: &Slot) -> bool {
        self.busy.fetch_add(1, Ordering::SeqCst);
        let still = slot.holds(self);
        if !still {
            self.busy.fetch_sub(1, Ordering::SeqCst);
        }
        still
    }

    /// The handler is done with this job for now.
    pub fn leave(&self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    /// True while a handler is between [`JobCell::enter`] and
    /// [`JobCell::leave`].
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) != 0
    }

    /// A handler ended the job (after [`Job::end`]).
    pub fn finish(&self) {
        self.done.store(true, Ordering::Release);
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// The control thread takes the job back once it is withdrawn from
    /// every slot and no handler is busy.
    pub fn into_inner(self) -> Job {
        self.job.into_inner()
    }
}

impl Slot {
    pub const fn new() -> Self {
        Slot {
            job: AtomicPtr::new(core::ptr::null_mut()),
        }
    }
    /// Publishes a job to the handler (before its thread starts).
    pub fn publish(&self, cell: &JobCell) {
        self.job
            .store(cell as *const JobCell as *mut JobCell, Ordering::Release);
    }
    /// Withdraws it (then wait until the cell is not busy before taking it
    /// back).
    pub fn clear(&self) {
        self.job.store(core::ptr::null_mut(), Ordering::SeqCst);
    }
    /// True while `cell` is the published job.
    pub fn holds(&self, cell: &JobCell) -> bool {
        core::ptr::eq(self.job.load(Ordering::SeqCst), cell)
    }
    /// The published job, if any.
    pub fn get(&self) -> Option<&JobCell> {
        let p = self.job.load(Ordering::Acquire);
        // SAFETY: a published pointer stays valid until `clear`, after
        // which the control thread waits until no handler is busy before
        // dropping the cell.
        unsafe { p.as_ref() }
    }
}

/// One slot per handler.
pub static SLOTS: [Slot; MAX_NODES] = [const { Slot::new() }; MAX_NODES];
