//! The local handlers against a fake process; layouts and error choices
//! checked against Linux where the host can say.

mod common;

use common::fake::FakeProcess;
use lwk_personality::syscall::process::RLIMIT_STACK;
use lwk_personality::syscall::{nr, Args, Dispatcher, Errno, SysError, SysResult, UserAddr};

fn call(p: &mut FakeProcess, n: usize, args: [u64; 6]) -> SysResult {
    Dispatcher::new().dispatch(p, n as u64, Args::new(args))
}

fn at(off: u64) -> u64 {
    FakeProcess::at(off).0
}

const BAD: u64 = 0x10; // never mapped in the fake
const EFAULT: SysResult = Err(SysError::Errno(Errno::EFAULT));
const EINVAL: SysResult = Err(SysError::Errno(Errno::EINVAL));
const ESRCH: SysResult = Err(SysError::Errno(Errno::ESRCH));

#[test]
fn identity() {
    let mut p = FakeProcess::default();
    assert_eq!(call(&mut p, nr::GETPID, [0; 6]), Ok(100));
    assert_eq!(call(&mut p, nr::GETTID, [0; 6]), Ok(101));
    assert_eq!(call(&mut p, nr::GETPPID, [0; 6]), Ok(1));
    assert_eq!(call(&mut p, nr::GETUID, [0; 6]), Ok(1000));
    assert_eq!(call(&mut p, nr::GETEUID, [0; 6]), Ok(1001));
    assert_eq!(call(&mut p, nr::GETGID, [0; 6]), Ok(50));
    assert_eq!(call(&mut p, nr::GETEGID, [0; 6]), Ok(51));
    assert_eq!(call(&mut p, nr::GETPGRP, [0; 6]), Ok(100));
    assert_eq!(call(&mut p, nr::GETSID, [0; 6]), Ok(99));
    assert_eq!(call(&mut p, nr::GETPGID, [100, 0, 0, 0, 0, 0]), Ok(100));
    assert_eq!(call(&mut p, nr::GETPGID, [7, 0, 0, 0, 0, 0]), ESRCH);
    assert_eq!(call(&mut p, nr::GETGROUPS, [0; 6]), Ok(0));
    assert_eq!(
        call(&mut p, nr::GETGROUPS, [u32::MAX as u64, 0, 0, 0, 0, 0]),
        EINVAL
    );

    assert_eq!(
        call(&mut p, nr::GETRESUID, [at(0), at(4), at(8), 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        p.read(0, 12),
        [1000u32, 1001, 1002].map(u32::to_le_bytes).concat()
    );
    assert_eq!(
        call(&mut p, nr::GETRESGID, [at(16), at(20), at(24), 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        p.read(16, 12),
        [50u32, 51, 52].map(u32::to_le_bytes).concat()
    );
    assert_eq!(
        call(&mut p, nr::GETRESUID, [at(0), BAD, at(8), 0, 0, 0]),
        EFAULT
    );
}

#[test]
fn uname_has_linux_layout() {
    let mut p = FakeProcess::default();
    assert_eq!(std::mem::size_of::<libc::utsname>(), 6 * 65);
    assert_eq!(call(&mut p, nr::UNAME, [at(0), 0, 0, 0, 0, 0]), Ok(0));
    let field = |i: usize| {
        let f = p.read(65 * i as u64, 65);
        String::from_utf8(f[..f.iter().position(|&b| b == 0).unwrap()].to_vec()).unwrap()
    };
    assert_eq!(field(0), "Linux");
    assert_eq!(field(1), "lwk-node");
    assert!(field(2).starts_with("6."));
    assert_eq!(field(4), "x86_64");
    assert_eq!(call(&mut p, nr::UNAME, [BAD, 0, 0, 0, 0, 0]), EFAULT);
}

#[test]
fn rlimits_round_trip() {
    let mut p = FakeProcess::default();
    let stack = RLIMIT_STACK as u64;
    assert_eq!(
        call(&mut p, nr::GETRLIMIT, [stack, at(0), 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!((p.read_u64(0), p.read_u64(8)), (8 << 20, u64::MAX));
    p.write_u64s(16, &[1 << 20, 2 << 20]);
    assert_eq!(
        call(&mut p, nr::SETRLIMIT, [stack, at(16), 0, 0, 0, 0]),
        Ok(0)
    );
    // prlimit64 sets and returns the previous value in one call.
    p.write_u64s(32, &[3 << 20, 4 << 20]);
    assert_eq!(
        call(&mut p, nr::PRLIMIT64, [0, stack, at(32), at(48), 0, 0]),
        Ok(0)
    );
    assert_eq!((p.read_u64(48), p.read_u64(56)), (1 << 20, 2 << 20));
    assert_eq!(
        call(&mut p, nr::PRLIMIT64, [100, stack, 0, at(48), 0, 0]),
        Ok(0)
    );
    assert_eq!((p.read_u64(48), p.read_u64(56)), (3 << 20, 4 << 20));

    p.write_u64s(64, &[5, 4]);
    assert_eq!(
        call(&mut p, nr::SETRLIMIT, [stack, at(64), 0, 0, 0, 0]),
        EINVAL,
        "cur > max"
    );
    assert_eq!(
        call(&mut p, nr::GETRLIMIT, [16, at(0), 0, 0, 0, 0]),
        EINVAL,
        "RLIM_NLIMITS"
    );
    assert_eq!(
        call(&mut p, nr::PRLIMIT64, [42, stack, 0, at(0), 0, 0]),
        ESRCH
    );
    assert_eq!(
        call(&mut p, nr::SETRLIMIT, [stack, BAD, 0, 0, 0, 0]),
        EFAULT
    );
    assert_eq!(
        p.rlimits.0[RLIMIT_STACK].cur,
        3 << 20,
        "failed calls change nothing"
    );
}

#[test]
fn clocks_follow_the_tsc() {
    let mut p = FakeProcess::default();
    p.tsc = p.clock.boot_tsc + 3 * 2_000_000_000 + 1_000; // 3 s + 500 ns at 2 GHz
    p.process_start = p.clock.boot_tsc + 2_000_000_000; // started at 1 s
    assert_eq!(
        call(
            &mut p,
            nr::CLOCK_GETTIME,
            [libc::CLOCK_MONOTONIC as u64, at(0), 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!((p.read_u64(0), p.read_u64(8)), (3, 500));
    assert_eq!(
        call(
            &mut p,
            nr::CLOCK_GETTIME,
            [libc::CLOCK_REALTIME as u64, at(0), 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!((p.read_u64(0), p.read_u64(8)), (1_700_000_003, 500));
    assert_eq!(
        call(
            &mut p,
            nr::CLOCK_GETTIME,
            [libc::CLOCK_PROCESS_CPUTIME_ID as u64, at(0), 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!((p.read_u64(0), p.read_u64(8)), (2, 500));
    assert_eq!(
        call(
            &mut p,
            nr::CLOCK_GETTIME,
            [libc::CLOCK_BOOTTIME as u64, at(0), 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(p.read_u64(0), 3);
    assert_eq!(
        call(&mut p, nr::CLOCK_GETTIME, [99, at(0), 0, 0, 0, 0]),
        EINVAL
    );
    assert_eq!(
        call(&mut p, nr::CLOCK_GETTIME, [0, BAD, 0, 0, 0, 0]),
        EFAULT
    );

    assert_eq!(
        call(&mut p, nr::CLOCK_GETRES, [1, at(0), 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!((p.read_u64(0), p.read_u64(8)), (0, 1));
    assert_eq!(call(&mut p, nr::CLOCK_GETRES, [1, 0, 0, 0, 0, 0]), Ok(0));

    p.tsc += 2_000_000; // + 1 ms
    assert_eq!(
        call(&mut p, nr::GETTIMEOFDAY, [at(0), at(16), 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!((p.read_u64(0), p.read_u64(8)), (1_700_000_003, 1000));
    assert_eq!(
        call(&mut p, nr::TIME, [at(32), 0, 0, 0, 0, 0]),
        Ok(1_700_000_003)
    );
    assert_eq!(p.read_u64(32), 1_700_000_003);
    assert_eq!(call(&mut p, nr::TIME, [0; 6]), Ok(1_700_000_003));
}

#[test]
fn sigaction_bookkeeping() {
    let mut p = FakeProcess::default();
    let sigusr1 = libc::SIGUSR1 as u64;
    // handler, flags (SA_RESTORER|SA_SIGINFO), restorer, mask incl. SIGKILL
    p.write_u64s(0, &[0x40_1234, 0x0400_0004, 0x40_5678, 1 << 8 | 1 << 1]);
    assert_eq!(
        call(&mut p, nr::RT_SIGACTION, [sigusr1, at(0), at(64), 8, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.read(64, 32), [0u8; 32], "old action was SIG_DFL");
    assert_eq!(
        call(&mut p, nr::RT_SIGACTION, [sigusr1, 0, at(64), 8, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        [0, 1, 2, 3].map(|i| p.read_u64(64 + 8 * i)),
        [0x40_1234, 0x0400_0004, 0x40_5678, 1 << 1]
    );

    assert_eq!(
        call(&mut p, nr::RT_SIGACTION, [9, at(0), 0, 8, 0, 0]),
        EINVAL,
        "SIGKILL"
    );
    assert_eq!(
        call(&mut p, nr::RT_SIGACTION, [9, 0, at(64), 8, 0, 0]),
        Ok(0),
        "query SIGKILL"
    );
    assert_eq!(call(&mut p, nr::RT_SIGACTION, [0, 0, 0, 8, 0, 0]), EINVAL);
    assert_eq!(call(&mut p, nr::RT_SIGACTION, [65, 0, 0, 8, 0, 0]), EINVAL);
    assert_eq!(
        call(&mut p, nr::RT_SIGACTION, [sigusr1, 0, 0, 16, 0, 0]),
        EINVAL,
        "sigsetsize"
    );
    assert_eq!(
        call(&mut p, nr::RT_SIGACTION, [sigusr1, BAD, 0, 8, 0, 0]),
        EFAULT
    );
    assert_eq!(
        p.signals.actions[9].handler, 0x40_1234,
        "a fault changes nothing"
    );
}

#[test]
fn sigprocmask_bookkeeping() {
    let mut p = FakeProcess::default();
    let (block, unblock, setmask) = (
        libc::SIG_BLOCK as u64,
        libc::SIG_UNBLOCK as u64,
        libc::SIG_SETMASK as u64,
    );
    p.write_u64s(0, &[0b1010 | 1 << 8 | 1 << 18]); // signals 2, 4, SIGKILL, SIGSTOP
    assert_eq!(
        call(&mut p, nr::RT_SIGPROCMASK, [block, at(0), at(8), 8, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.read_u64(8), 0);
    assert_eq!(
        p.signals.mask, 0b1010,
        "SIGKILL and SIGSTOP cannot be blocked"
    );
    p.write_u64s(0, &[0b0010]);
    assert_eq!(
        call(&mut p, nr::RT_SIGPROCMASK, [unblock, at(0), at(8), 8, 0, 0]),
        Ok(0)
    );
    assert_eq!((p.read_u64(8), p.signals.mask), (0b1010, 0b1000));
    p.write_u64s(0, &[0b0101]);
    assert_eq!(
        call(&mut p, nr::RT_SIGPROCMASK, [setmask, at(0), 0, 8, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.signals.mask, 0b0101);
    assert_eq!(
        call(&mut p, nr::RT_SIGPROCMASK, [7, 0, at(8), 8, 0, 0]),
        Ok(0),
        "how ignored without set"
    );
    assert_eq!(p.read_u64(8), 0b0101);
    assert_eq!(
        call(&mut p, nr::RT_SIGPROCMASK, [7, at(0), 0, 8, 0, 0]),
        EINVAL
    );
    assert_eq!(
        call(&mut p, nr::RT_SIGPROCMASK, [block, BAD, 0, 8, 0, 0]),
        EFAULT
    );
    assert_eq!(
        call(&mut p, nr::RT_SIGPROCMASK, [block, at(0), 0, 4, 0, 0]),
        EINVAL
    );
    assert_eq!(p.signals.mask, 0b0101);
}

/// The host kernel agrees on the error for a mask length that is not a
/// multiple of 8 bytes.
#[test]
fn sched_getaffinity_like_linux() {
    let mut p = FakeProcess::default();
    assert_eq!(
        call(&mut p, nr::SCHED_GETAFFINITY, [0, 128, at(0), 0, 0, 0]),
        Ok(8)
    );
    assert_eq!(p.read_u64(0), 0b0110);
    assert_eq!(
        call(&mut p, nr::SCHED_GETAFFINITY, [101, 8, at(0), 0, 0, 0]),
        Ok(8)
    );
    assert_eq!(
        call(&mut p, nr::SCHED_GETAFFINITY, [0, 4, at(0), 0, 0, 0]),
        EINVAL
    );
    assert_eq!(
        call(&mut p, nr::SCHED_GETAFFINITY, [55, 8, at(0), 0, 0, 0]),
        ESRCH
    );
    assert_eq!(
        call(&mut p, nr::SCHED_GETAFFINITY, [0, 8, BAD, 0, 0, 0]),
        EFAULT
    );

    let mut mask = [0u8; 8];
    // SAFETY: a valid buffer of the given length.
    let host = unsafe { libc::syscall(libc::SYS_sched_getaffinity, 0, 4usize, mask.as_mut_ptr()) };
    assert_eq!(
        (host, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(libc::EINVAL))
    );
    // SAFETY: as above.
    let host = unsafe { libc::syscall(libc::SYS_sched_getaffinity, 0, 8usize, mask.as_mut_ptr()) };
    assert_eq!(host, 8, "returns the bytes written, like ours");
}

#[test]
fn getrandom_fills_and_reports_partial_faults() {
    let mut p = FakeProcess::default();
    assert_eq!(
        call(&mut p, nr::GETRANDOM, [at(0), 300, 0, 0, 0, 0]),
        Ok(300)
    );
    assert_eq!(p.read(0, 3), [1, 2, 3]);
    assert_eq!(p.read(299, 2), [44, 0]); // 300 bytes of a wrapping counter, then untouched
    assert_eq!(
        call(&mut p, nr::GETRANDOM, [at(0), 1, 0x80, 0, 0, 0]),
        EINVAL
    );
    let near_end = at(common::fake::MEM_SIZE as u64 - 256);
    assert_eq!(
        call(&mut p, nr::GETRANDOM, [near_end, 1000, 1, 0, 0, 0]),
        Ok(256)
    );
    assert_eq!(call(&mut p, nr::GETRANDOM, [BAD, 16, 0, 0, 0, 0]), EFAULT);
}

#[test]
fn life_cycle() {
    let mut p = FakeProcess::default();
    assert_eq!(
        call(&mut p, nr::EXIT_GROUP, [3, 0, 0, 0, 0, 0]),
        Err(SysError::Exit {
            status: 3,
            group: true
        })
    );
    assert_eq!(
        call(&mut p, nr::EXIT, [u64::MAX, 0, 0, 0, 0, 0]),
        Err(SysError::Exit {
            status: -1,
            group: false
        })
    );
    assert_eq!(
        call(&mut p, nr::SET_TID_ADDRESS, [at(8), 0, 0, 0, 0, 0]),
        Ok(101)
    );
    assert_eq!(p.clear_child_tid, Some(UserAddr(at(8))));
    assert_eq!(
        call(&mut p, nr::SET_ROBUST_LIST, [at(64), 24, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.robust_list, Some(UserAddr(at(64))));
    assert_eq!(
        call(&mut p, nr::SET_ROBUST_LIST, [at(64), 16, 0, 0, 0, 0]),
        EINVAL
    );
    assert_eq!(call(&mut p, nr::SCHED_YIELD, [0; 6]), Ok(0));
    assert_eq!(
        call(&mut p, nr::RSEQ, [0; 6]),
        Err(SysError::Errno(Errno::ENOSYS))
    );
}
