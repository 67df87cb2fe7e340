//! `futex` through the table against a fake process, with the host kernel
//! as the oracle for immediate answers; and the thread exit that wakes a
//! joiner.

mod common;

use common::fake::FakeProcess;
use lwk_personality::syscall::time::Deadline;
use lwk_personality::syscall::{
    nr, Args, Block, Dispatcher, Errno, SysError, SysResult, ThreadId, UserAddr,
};
use std::sync::atomic::{AtomicU32, Ordering};

const WAIT: u64 = libc::FUTEX_WAIT as u64;
const WAKE: u64 = libc::FUTEX_WAKE as u64;
const REQUEUE: u64 = libc::FUTEX_REQUEUE as u64;
const CMP_REQUEUE: u64 = libc::FUTEX_CMP_REQUEUE as u64;
const WAIT_BITSET: u64 = libc::FUTEX_WAIT_BITSET as u64;
const WAKE_BITSET: u64 = libc::FUTEX_WAKE_BITSET as u64;
const PRIVATE: u64 = libc::FUTEX_PRIVATE_FLAG as u64;
const REALTIME: u64 = libc::FUTEX_CLOCK_REALTIME as u64;
/// 2 GHz: ticks per ns.
const TICKS_PER_NS: u64 = 2;

fn call(p: &mut FakeProcess, args: [u64; 6]) -> SysResult {
    Dispatcher::new().dispatch(p, nr::FUTEX as u64, Args::new(args))
}

fn err(e: Errno) -> SysResult {
    Err(SysError::Errno(e))
}

fn at(off: u64) -> u64 {
    FakeProcess::at(off).0
}

/// A process whose futex word (offset 0) holds 5, at monotonic time
/// 1 s, with a timespec of {0, 1000} at offset 64 and a bad one at 96.
fn process() -> FakeProcess {
    let mut p = FakeProcess::default();
    p.write(0, &5u32.to_le_bytes());
    p.tsc = p.clock.boot_tsc + 1_000_000_000 * TICKS_PER_NS;
    p.write_u64s(64, &[0, 1000]);
    p.write_u64s(96, &[0, 1_000_000_000]);
    p
}

#[test]
fn wait_blocks_and_wake_resumes() {
    let mut p = process();
    let word = at(0);
    assert_eq!(
        call(&mut p, [word, WAIT | PRIVATE, 4, 0, 0, 0]),
        err(Errno::EAGAIN)
    );
    assert_eq!(
        call(&mut p, [word, WAIT | PRIVATE, 5, 0, 0, 0]),
        Err(SysError::Block(Block {
            thread: ThreadId(101),
            deadline: None
        }))
    );
    assert!(p.futexes.is_waiting(ThreadId(101)));
    // Another thread wakes: a count of 0 still wakes one, as Linux.
    p.ids.tid = 102;
    assert_eq!(call(&mut p, [word, WAKE | PRIVATE, 0, 0, 0, 0]), Ok(1));
    assert_eq!(p.woken, [ThreadId(101)]);
    assert_eq!(call(&mut p, [word, WAKE, 1, 0, 0, 0]), Ok(0), "nobody left");
}

#[test]
fn timeouts_become_monotonic_deadlines() {
    let mut p = process();
    let now = 1_000_000_000;
    // FUTEX_WAIT: relative.
    let r = call(&mut p, [at(0), WAIT, 5, at(64), 0, 0]);
    assert_eq!(
        r,
        Err(SysError::Block(Block {
            thread: ThreadId(101),
            deadline: Some(Deadline(now + 1000))
        }))
    );
    // FUTEX_WAIT_BITSET: absolute, monotonic or realtime.
    p.write_u64s(128, &[3, 0]);
    let r = call(&mut p, [at(0), WAIT_BITSET, 5, at(128), 0, u32::MAX as u64]);
    assert!(matches!(
        r,
        Err(SysError::Block(Block {
            deadline: Some(Deadline(3_000_000_000)),
            ..
        }))
    ));
    let boot = p.clock.realtime_at_boot_ns;
    p.write_u64s(128, &[boot / 1_000_000_000 + 2, 0]);
    let r = call(&mut p, [at(0), WAIT_BITSET | REALTIME, 5, at(128), 0, 1]);
    assert!(matches!(
        r,
        Err(SysError::Block(Block {
            deadline: Some(Deadline(2_000_000_000)),
            ..
        }))
    ));
    assert_eq!(p.futexes.next_deadline(), Some(Deadline(2_000_000_000)));
    assert_eq!(p.futexes.expire(Deadline(2_000_000_000)), [ThreadId(101)]);
    // A deadline already past: ETIMEDOUT at once (after the value check).
    p.write_u64s(128, &[0, 5]);
    assert_eq!(
        call(&mut p, [at(0), WAIT_BITSET, 5, at(128), 0, 1]),
        err(Errno::ETIMEDOUT)
    );
    assert_eq!(
        call(&mut p, [at(0), WAIT_BITSET, 4, at(128), 0, 1]),
        err(Errno::EAGAIN)
    );
    assert_eq!(
        call(&mut p, [at(0), WAIT, 5, 0x10, 0, 0]),
        err(Errno::EFAULT),
        "timeout unreadable"
    );
}

#[test]
fn bitsets_and_requeue() {
    let mut p = process();
    let (a, b) = (at(0), at(8));
    for (tid, bits) in [(1, 0b01), (2, 0b10), (3, u32::MAX)] {
        p.futexes.wait(ThreadId(tid), a, bits, None);
    }
    assert_eq!(call(&mut p, [a, WAKE_BITSET, 10, 0, 0, 0b10]), Ok(2));
    assert_eq!(p.woken, [ThreadId(2), ThreadId(3)]);
    assert_eq!(
        call(&mut p, [a, WAKE_BITSET, 10, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    for tid in 4..8 {
        p.futexes.wait(ThreadId(tid), a, u32::MAX, None);
    }
    // Wake 1 (thread 1, first in line), move 2 to b; returns woken + moved.
    assert_eq!(call(&mut p, [a, REQUEUE, 1, 2, b, 0]), Ok(3));
    assert_eq!(p.woken.last(), Some(&ThreadId(1)));
    assert_eq!(call(&mut p, [b, WAKE, 10, 0, 0, 0]), Ok(2));
    assert_eq!(
        call(&mut p, [a, CMP_REQUEUE, 0, 5, b, 4]),
        err(Errno::EAGAIN)
    );
    assert_eq!(call(&mut p, [a, CMP_REQUEUE, 0, 5, b, 5]), Ok(2));
    assert_eq!(
        call(&mut p, [a, CMP_REQUEUE, 1, 5, b + 2, 5]),
        err(Errno::EINVAL),
        "misaligned target"
    );
    assert_eq!(p.futexes.len(), 2, "the two requeued to b");
}

/// A futex call to compare: (op, val, timeout: none / valid 1 µs / invalid,
/// whether uaddr2 is the word too, val3, whether uaddr is misaligned).
type Case = (u64, u64, Option<bool>, bool, u64, bool);

/// Each case is answered by the host kernel first (futex word 5 in both),
/// then by the table; the answers must be equal.
#[test]
fn immediate_answers_match_linux() {
    let host_word = AtomicU32::new(5);
    let host_ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1000,
    };
    let host_bad = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    let hw = host_word.as_ptr() as u64;
    let (hts, hbad) = (&host_ts as *const _ as u64, &host_bad as *const _ as u64);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        (WAIT, 4, None, false, 0, false),
        (WAIT, 5, None, false, 0, true),
        (WAIT, 5, Some(false), false, 0, false),
        (WAIT, 4, Some(false), false, 0, false),
        (WAIT | REALTIME, 4, None, false, 0, false),
        (WAKE | REALTIME, 1, None, false, 0, false),
        (WAIT_BITSET, 5, None, false, 0, false),
        (WAIT_BITSET | PRIVATE, 4, None, false, 0, false),
        (WAIT, 5, Some(true), false, 0, false),
        (WAKE, 0, None, false, 0, false),
        (WAKE, 1, None, false, 0, true),
        (99, 0, None, false, 0, false),
        (CMP_REQUEUE, u32::MAX as u64, None, true, 5, false),
        (CMP_REQUEUE, 1, None, true, 4, false),
        (REQUEUE, 1, None, true, 4, false),
    ];
    for &(op, val, timeout, second, val3, misaligned) in cases {
        let shift = if misaligned { 1 } else { 0 };
        let host_ts_arg = match timeout {
            None if second => 1, // the requeue count travels here
            None => 0,
            Some(true) => hts,
            Some(false) => hbad,
        };
        let host_uaddr2 = if second { hw } else { 0 };
        // SAFETY: the pointers are valid; no case blocks (mismatch, bad
        // timeout, 1 µs timeout, or a non-waiting operation).
        let host = unsafe {
            libc::syscall(
                libc::SYS_futex,
                hw + shift,
                op,
                val,
                host_ts_arg,
                host_uaddr2,
                val3,
            )
        };
        let host = if host < 0 {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap())
        } else {
            Ok(host as u64)
        };
        let mut p = process();
        let ts_arg = match timeout {
            None if second => 1,
            None => 0,
            Some(true) => at(64),
            Some(false) => at(96),
        };
        let ours = call(
            &mut p,
            [
                at(0) + shift,
                op,
                val,
                ts_arg,
                if second { at(0) } else { 0 },
                val3,
            ],
        );
        let ours = match ours {
            Ok(v) => Ok(v),
            Err(SysError::Errno(e)) => Err(e.code()),
            // Ours blocks until the seL4 side's timer expires the wait.
            Err(SysError::Block(Block {
                thread,
                deadline: Some(d),
            })) => {
                assert_eq!(p.futexes.expire(d), [thread]);
                Err(libc::ETIMEDOUT)
            }
            Err(other) => panic!("op {op:#x}: {other:?}"),
        };
        assert_eq!(ours, host, "op {op:#x} val {val} timeout {timeout:?}");
    }
    assert_eq!(host_word.load(Ordering::Relaxed), 5);
    // Deliberately unsupported: WAKE_OP (glibc stopped using it in 2.25) and
    // priority-inheritance futexes.
    let mut p = process();
    for op in [
        libc::FUTEX_WAKE_OP,
        libc::FUTEX_LOCK_PI,
        libc::FUTEX_UNLOCK_PI,
    ] {
        assert_eq!(
            call(&mut p, [at(0), op as u64, 0, 0, at(0), 0]),
            err(Errno::ENOSYS)
        );
    }
}

/// The host agrees that a wake count of 0 wakes one waiter.
#[test]
fn wake_count_zero_wakes_one_on_linux() {
    static WORD: AtomicU32 = AtomicU32::new(0);
    let waiter = std::thread::spawn(|| {
        // SAFETY: a valid futex word; returns when woken.
        unsafe { libc::syscall(libc::SYS_futex, WORD.as_ptr(), WAIT, 0, 0, 0, 0) }
    });
    let mut woken = 0;
    while woken == 0 {
        // SAFETY: as above.
        woken = unsafe { libc::syscall(libc::SYS_futex, WORD.as_ptr(), WAKE, 0, 0, 0, 0) };
        std::thread::yield_now();
    }
    assert_eq!(woken, 1);
    assert_eq!(waiter.join().unwrap(), 0);
}

#[test]
fn thread_exit_clears_and_wakes_the_joiner() {
    let mut p = process();
    let tid_word = FakeProcess::at(16);
    p.write(16, &101u32.to_le_bytes());
    p.clear_child_tid = Some(tid_word);
    p.futexes.wait(ThreadId(1), tid_word.0, u32::MAX, None);
    p.futexes.wait(ThreadId(2), tid_word.0, u32::MAX, None);
    assert_eq!(
        Dispatcher::new().dispatch(&mut p, nr::EXIT as u64, Args::new([7, 0, 0, 0, 0, 0])),
        Err(SysError::Exit {
            status: 7,
            group: false
        })
    );
    assert_eq!(p.read(16, 4), [0; 4]);
    assert_eq!(p.woken, [ThreadId(1)], "one waiter, as Linux's mm_release");
    assert_eq!(p.clear_child_tid, Some(UserAddr::NULL));
    // A bad clear_child_tid is ignored.
    p.clear_child_tid = Some(UserAddr(0x10));
    assert!(matches!(
        Dispatcher::new().dispatch(&mut p, nr::EXIT as u64, Args::default()),
        Err(SysError::Exit { .. })
    ));
}
