//! The futex table of one process, as pure logic.
//!
//! A waiter is a thread blocked in `FUTEX_WAIT*` on a user address (the key:
//! a job is one process, so private and shared futexes are the same thing)
//! with a bitset and an optional deadline. The system-call handler compares
//! the futex word and enqueues; whoever wakes gets the threads to resume;
//! the seL4 side resumes them (RAX = 0) and, at each deadline,
//! [`FutexTable::expire`] names the threads to resume with `-ETIMEDOUT`.
//!
//! The table is a vector in arrival order: an LWK runs at most one thread
//! per application core, so there are at most a few dozen waiters, and
//! first-come first-woken is what Linux does for equal priorities.

use crate::syscall::process::ThreadId;
use crate::syscall::time::Deadline;
use alloc::vec::Vec;

/// The bitset that matches every waiter (`FUTEX_BITSET_MATCH_ANY`).
pub const MATCH_ANY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Waiter {
    thread: ThreadId,
    addr: u64,
    bitset: u32,
    deadline: Option<Deadline>,
}

/// The waiters of one process.
#[derive(Clone, Debug, Default)]
pub struct FutexTable {
    waiters: Vec<Waiter>,
}

impl FutexTable {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            waiters: Vec::new(),
        }
    }

    /// Enqueues `thread` on `addr`. A thread waits on one futex at a time:
    /// a previous entry of the same thread (which cannot exist while it is
    /// blocked) is replaced.
    pub fn wait(&mut self, thread: ThreadId, addr: u64, bitset: u32, deadline: Option<Deadline>) {
        self.cancel(thread);
        self.waiters.push(Waiter {
            thread,
            addr,
            bitset,
            deadline,
        });
    }

    /// Dequeues up to `max` waiters on `addr` whose bitset meets `bitset`,
    /// oldest first, and returns them: the threads to resume with 0.
    pub fn wake(&mut self, addr: u64, bitset: u32, max: usize) -> Vec<ThreadId> {
        let mut woken = Vec::new();
        self.waiters.retain(|w| {
            let hit = woken.len() < max && w.addr == addr && w.bitset & bitset != 0;
            if hit {
                woken.push(w.thread);
            }
            !hit
        });
        woken
    }

    /// `FUTEX_REQUEUE`: wakes up to `wake` waiters on `from`, then moves up
    /// to `requeue` of the others to `to`. Returns the woken threads and how
    /// many were moved.
    pub fn requeue(
        &mut self,
        from: u64,
        to: u64,
        wake: usize,
        requeue: usize,
    ) -> (Vec<ThreadId>, usize) {
        let woken = self.wake(from, MATCH_ANY, wake);
        let mut moved = 0;
        for w in self.waiters.iter_mut().filter(|w| w.addr == from) {
            if moved == requeue {
                break;
            }
            w.addr = to;
            moved += 1;
        }
        (woken, moved)
    }

    /// Dequeues every waiter whose deadline is at or before `now` and
    /// returns them: the threads to resume with `-ETIMEDOUT`.
    pub fn expire(&mut self, now: Deadline) -> Vec<ThreadId> {
        let mut expired = Vec::new();
        self.waiters.retain(|w| {
            let due = w.deadline.is_some_and(|d| d <= now);
            if due {
                expired.push(w.thread);
            }
            !due
        });
        expired
    }

    /// Removes `thread`'s wait, if any (the thread is being killed, or
    /// interrupted); returns whether it was waiting.
    pub fn cancel(&mut self, thread: ThreadId) -> bool {
        let before = self.waiters.len();
        self.waiters.retain(|w| w.thread != thread);
        self.waiters.len() != before
    }

    /// The earliest deadline, for the timer that must call
    /// [`Self::expire`].
    pub fn next_deadline(&self) -> Option<Deadline> {
        self.waiters.iter().filter_map(|w| w.deadline).min()
    }

    /// Whether `thread` is waiting.
    pub fn is_waiting(&self, thread: ThreadId) -> bool {
        self.waiters.iter().any(|w| w.thread == thread)
    }

    /// Number of waiters.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const T1: ThreadId = ThreadId(1);
    const T2: ThreadId = ThreadId(2);
    const T3: ThreadId = ThreadId(3);

    #[test]
    fn wake_is_fifo_per_address_and_bitset() {
        let mut t = FutexTable::new();
        t.wait(T1, 0x100, MATCH_ANY, None);
        t.wait(T2, 0x200, MATCH_ANY, None);
        t.wait(T3, 0x100, 0b10, None);
        assert_eq!(t.wake(0x100, 0b01, 5), vec![T1], "bitset excludes T3");
        assert_eq!(t.wake(0x100, MATCH_ANY, 5), vec![T3]);
        assert_eq!(t.wake(0x100, MATCH_ANY, 5), vec![]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.wake(0x200, MATCH_ANY, 0), vec![], "max 0 wakes none here");
        assert!(t.is_waiting(T2));
    }

    #[test]
    fn requeue_moves_the_rest() {
        let mut t = FutexTable::new();
        for (i, th) in [T1, T2, T3].into_iter().enumerate() {
            t.wait(th, 0x100, MATCH_ANY, Some(Deadline(10 + i as u64)));
        }
        assert_eq!(t.requeue(0x100, 0x300, 1, 1), (vec![T1], 1));
        assert_eq!(t.wake(0x300, MATCH_ANY, 9), vec![T2]);
        assert_eq!(t.wake(0x100, MATCH_ANY, 9), vec![T3]);
    }

    #[test]
    fn deadlines_expire() {
        let mut t = FutexTable::new();
        t.wait(T1, 0x100, MATCH_ANY, Some(Deadline(50)));
        t.wait(T2, 0x100, MATCH_ANY, None);
        t.wait(T3, 0x100, MATCH_ANY, Some(Deadline(20)));
        assert_eq!(t.next_deadline(), Some(Deadline(20)));
        assert_eq!(t.expire(Deadline(19)), vec![]);
        assert_eq!(t.expire(Deadline(20)), vec![T3]);
        assert_eq!(t.expire(Deadline(100)), vec![T1]);
        assert_eq!(t.next_deadline(), None);
        assert!(t.cancel(T2));
        assert!(!t.cancel(T2));
        assert!(t.is_empty());
        // Waiting again replaces.
        t.wait(T1, 0x100, MATCH_ANY, None);
        t.wait(T1, 0x200, MATCH_ANY, None);
        assert_eq!(t.len(), 1);
    }
}
