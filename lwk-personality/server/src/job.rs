//! One job's state, shared by the control thread (which creates and
//! destroys it) and the handler thread of its node (which serves its
//! system calls and faults while it runs).
//!
//! Ownership moves with two atomics: the control thread publishes the job
//! in its handler's slot before starting the application thread; from then
//! on only that handler touches the job, until it sets `done`; then only the
//! control thread does again.

use crate::app::AppSpace;
use crate::backing::JobBacking;
use crate::jobchan::{JobChannel, StdinReader};
use alloc::string::String;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use lwk_handoff::MAX_NODES;
use lwk_personality::futex::FutexTable;
use lwk_personality::loader::rewrite::RewriteReport;
use lwk_personality::mm::AddressSpace;
use lwk_personality::syscall::process::Rlimits;
use lwk_personality::syscall::signal::SignalState;
use lwk_personality::syscall::time::TscClock;
use lwk_personality::syscall::Dispatcher;

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

/// Everything a handler needs to serve a job.
pub struct Job {
    pub id: u64,
    /// The executable's path (`/proc/self/exe`, `AT_EXECFN`, reports).
    pub path: String,
    pub node: u64,
    pub space: AppSpace,
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
    pub syscalls: u64,
    pub outcome: Option<Outcome>,
    pub clear_child_tid: u64,
    pub robust_list: u64,
    pub name: [u8; 16],
    pub rng: u64,
}

/// A job handed to a handler thread.
pub struct Slot {
    job: AtomicPtr<JobCell>,
}

/// The job behind the ownership protocol.
pub struct JobCell {
    job: UnsafeCell<Job>,
    done: AtomicBool,
    /// The handler is serving a fault of this job right now.
    busy: AtomicBool,
}

// SAFETY: access to `job` is serialised by the publish/done protocol above.
unsafe impl Sync for JobCell {}

impl JobCell {
    pub fn new(job: Job) -> Self {
        JobCell {
            job: UnsafeCell::new(job),
            done: AtomicBool::new(false),
            busy: AtomicBool::new(false),
        }
    }

    /// The handler's view while the job runs.
    ///
    /// # Safety
    /// Only the handler thread the cell is published to may call this, and
    /// only before it calls [`JobCell::finish`].
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn running(&self) -> &mut Job {
        // SAFETY: the caller is the only thread accessing the job now.
        unsafe { &mut *self.job.get() }
    }

    /// The handler starts serving a fault; false if the job was withdrawn
    /// meanwhile (then it must not touch it).
    pub fn enter(&self, slot: &Slot) -> bool {
        self.busy.store(true, Ordering::SeqCst);
        let still = core::ptr::eq(slot.job.load(Ordering::SeqCst), self);
        if !still {
            self.busy.store(false, Ordering::SeqCst);
        }
        still
    }

    /// The handler is done with this fault.
    pub fn leave(&self) {
        self.busy.store(false, Ordering::SeqCst);
    }

    /// True while a handler is inside [`JobCell::enter`]/[`JobCell::leave`].
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// The handler gives the job back.
    pub fn finish(&self) {
        self.done.store(true, Ordering::Release);
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// The control thread takes the job back after `is_done`.
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
    /// Withdraws it (after `done`, or to kill the job: then wait until the
    /// cell is not busy before taking it back).
    pub fn clear(&self) {
        self.job.store(core::ptr::null_mut(), Ordering::SeqCst);
    }
    /// The published job, if any.
    pub fn get(&self) -> Option<&JobCell> {
        let p = self.job.load(Ordering::Acquire);
        // SAFETY: a published pointer stays valid until `clear`, which the
        // control thread calls only after the handler set `done` and stopped
        // using it.
        unsafe { p.as_ref() }
    }
}

/// One slot per handler.
pub static SLOTS: [Slot; MAX_NODES] = [const { Slot::new() }; MAX_NODES];
