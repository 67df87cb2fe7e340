//! The remaining local calls against a fake process — threads, TLS, names,
//! `/proc/self/exe`, the console and its terminal ioctls, sleeping,
//! affinity — with the host kernel as the oracle where it can answer.

mod common;

use common::fake::{FakeProcess, MEM_SIZE};
use lwk_personality::syscall::io::{TERMIOS, WINSIZE};
use lwk_personality::syscall::time::Deadline;
use lwk_personality::syscall::{
    nr, Args, Dispatcher, Errno, SpawnThread, SysError, SysResult, ThreadId, UserAddr,
};

fn call(p: &mut FakeProcess, n: usize, args: [u64; 6]) -> SysResult {
    Dispatcher::new().dispatch(p, n as u64, Args::new(args))
}

fn err(e: Errno) -> SysResult {
    Err(SysError::Errno(e))
}

fn at(off: u64) -> u64 {
    FakeProcess::at(off).0
}

/// The errno the host answers for a raw system call, or its value.
fn host(n: i64, a: [u64; 5]) -> Result<i64, i32> {
    // SAFETY: callers pass only calls that fail or touch their own buffers.
    let r = unsafe { libc::syscall(n, a[0], a[1], a[2], a[3], a[4]) };
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap())
    } else {
        Ok(r)
    }
}

fn errno_of(r: SysResult) -> Result<i64, i32> {
    match r {
        Ok(v) => Ok(v as i64),
        Err(SysError::Errno(e)) => Err(e.code()),
        Err(other) => panic!("{other:?}"),
    }
}

const GLIBC_THREAD: u64 = 0x003d_0f00;
const MUSL_THREAD: u64 = 0x007d_0f00;

#[test]
fn clone_creates_threads_only() {
    let mut p = FakeProcess::default();
    let r = call(
        &mut p,
        nr::CLONE,
        [GLIBC_THREAD, 0x7000_0000, at(0), at(8), 0x7000_1000, 0],
    );
    let Err(SysError::Spawn(spawn)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        spawn,
        SpawnThread {
            flags: GLIBC_THREAD,
            stack: 0x7000_0000,
            tls: Some(0x7000_1000),
            ctid: UserAddr(at(8)),
            ptid: UserAddr(at(0)),
        }
    );
    assert_eq!(spawn.clear_child_tid(), Some(UserAddr(at(8))));
    spawn.publish_tid(&mut p, ThreadId(205));
    assert_eq!(p.read(0, 4), 205i32.to_le_bytes(), "CLONE_PARENT_SETTID");
    assert_eq!(p.read(8, 4), [0; 4], "no CLONE_CHILD_SETTID");
    let with_settid = MUSL_THREAD | libc::CLONE_CHILD_SETTID as u64;
    let Err(SysError::Spawn(s)) = call(&mut p, nr::CLONE, [with_settid, 1, at(0), at(8), 0, 0])
    else {
        panic!()
    };
    s.publish_tid(&mut p, ThreadId(206));
    assert_eq!(p.read(8, 4), 206i32.to_le_bytes());
    let no_tls = GLIBC_THREAD & !(libc::CLONE_SETTLS as u64);
    assert!(matches!(
        call(&mut p, nr::CLONE, [no_tls, 1, 0, 0, 0, 0]),
        Err(SysError::Spawn(SpawnThread { tls: None, .. }))
    ));

    let sigchld = libc::SIGCHLD as u64;
    let fork = sigchld | (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64;
    assert_eq!(
        call(&mut p, nr::CLONE, [fork, 0, 0, at(8), 0, 0]),
        err(Errno::ENOSYS)
    );
    let vfork = sigchld | (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
    assert_eq!(
        call(&mut p, nr::CLONE, [vfork, 0, 0, 0, 0, 0]),
        err(Errno::ENOSYS)
    );
    assert_eq!(call(&mut p, nr::FORK, [0; 6]), err(Errno::ENOSYS));
    let own_files = GLIBC_THREAD & !(libc::CLONE_FILES as u64);
    assert_eq!(
        call(&mut p, nr::CLONE, [own_files, 1, 0, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    let traced = GLIBC_THREAD | libc::CLONE_PTRACE as u64;
    assert_eq!(
        call(&mut p, nr::CLONE, [traced, 1, 0, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(
        call(&mut p, nr::CLONE, [GLIBC_THREAD, 1, 0, 0, 1 << 47, 0]),
        err(Errno::EPERM)
    );
    assert_eq!(call(&mut p, nr::CLONE3, [0; 6]), err(Errno::ENOSYS));

    // Linux's own consistency checks, which fail on the host too.
    let (vm, sighand, thread) = (
        libc::CLONE_VM as u64,
        libc::CLONE_SIGHAND as u64,
        libc::CLONE_THREAD as u64,
    );
    for flags in [thread | sighand, sighand, thread | vm] {
        let ours = errno_of(call(&mut p, nr::CLONE, [flags, 0, 0, 0, 0, 0]));
        assert_eq!(
            ours,
            host(libc::SYS_clone, [flags, 0, 0, 0, 0]),
            "flags {flags:#x}"
        );
    }
}

#[test]
fn arch_prctl_sets_the_thread_pointer() {
    let mut p = FakeProcess::default();
    let (set_fs, get_fs, set_gs, get_gs) = (0x1002, 0x1003, 0x1001, 0x1004);
    assert_eq!(
        call(&mut p, nr::ARCH_PRCTL, [set_fs, 0x4d_5000, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.fs_base, 0x4d_5000);
    assert_eq!(
        call(&mut p, nr::ARCH_PRCTL, [get_fs, at(0), 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.read_u64(0), 0x4d_5000);
    assert_eq!(
        call(&mut p, nr::ARCH_PRCTL, [get_fs, 0x10, 0, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    assert_eq!(
        call(&mut p, nr::ARCH_PRCTL, [set_gs, 0x1000, 0, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    p.write_u64s(0, &[7]);
    assert_eq!(
        call(&mut p, nr::ARCH_PRCTL, [get_gs, at(0), 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.read_u64(0), 0);
    for (code, addr) in [(set_fs, 0x8000_0000_0000u64), (0x9999, 0), (0x3001, at(0))] {
        assert_eq!(
            errno_of(call(&mut p, nr::ARCH_PRCTL, [code, addr, 0, 0, 0, 0])),
            host(libc::SYS_arch_prctl, [code, addr, 0, 0, 0]).map(|_| 0),
            "code {code:#x}"
        );
    }
}

#[test]
fn prctl_names_the_thread() {
    let mut p = FakeProcess::default();
    p.write(0, b"a-rather-long-thread-name\0");
    assert_eq!(call(&mut p, nr::PRCTL, [15, at(0), 0, 0, 0, 0]), Ok(0));
    assert_eq!(&p.name, b"a-rather-long-t\0", "cut to 15 bytes");
    assert_eq!(call(&mut p, nr::PRCTL, [16, at(64), 0, 0, 0, 0]), Ok(0));
    assert_eq!(p.read(64, 16), b"a-rather-long-t\0");
    // A name that ends right before unmapped memory is read.
    let end = MEM_SIZE as u64;
    p.write(end - 3, b"ab\0");
    assert_eq!(
        call(&mut p, nr::PRCTL, [15, at(end - 3), 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(&p.name[..3], b"ab\0");
    assert_eq!(
        call(&mut p, nr::PRCTL, [15, 0x10, 0, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    assert_eq!(
        errno_of(call(&mut p, nr::PRCTL, [9999, 0, 0, 0, 0, 0])),
        host(libc::SYS_prctl, [9999, 0, 0, 0, 0])
    );
}

#[test]
fn readlink_proc_self_exe() {
    let mut p = FakeProcess::default();
    let exe = "/home/user/bin/prog";
    p.write(0, b"/proc/self/exe\0");
    assert_eq!(
        call(&mut p, nr::READLINK, [at(0), at(256), 4096, 0, 0, 0]),
        Ok(exe.len() as u64)
    );
    assert_eq!(p.read(256, exe.len()), exe.as_bytes());
    assert_eq!(p.read(256 + exe.len() as u64, 1), [0], "no NUL written");
    assert_eq!(
        call(&mut p, nr::READLINK, [at(0), at(512), 3, 0, 0, 0]),
        Ok(3),
        "truncated"
    );
    assert_eq!(
        call(&mut p, nr::READLINK, [at(0), at(512), 0, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    let at_fdcwd = libc::AT_FDCWD as u64;
    assert_eq!(
        call(&mut p, nr::READLINKAT, [at_fdcwd, at(0), at(512), 64, 0, 0]),
        Ok(exe.len() as u64)
    );
    p.write(32, b"/proc/100/exe\0");
    assert_eq!(
        call(&mut p, nr::READLINK, [at(32), at(512), 64, 0, 0, 0]),
        Ok(exe.len() as u64)
    );
    p.write(32, b"/etc/alternatives/cc\0");
    assert_eq!(
        call(&mut p, nr::READLINK, [at(32), at(512), 64, 0, 0, 0]),
        err(Errno::ENOSYS),
        "other links are the Linux VM's: none in standalone mode"
    );
    p.write(32, b"\0");
    assert_eq!(
        call(&mut p, nr::READLINK, [at(32), at(512), 64, 0, 0, 0]),
        err(Errno::ENOENT)
    );
    assert_eq!(
        call(&mut p, nr::READLINK, [0x10, at(512), 64, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    assert_eq!(
        call(&mut p, nr::READLINK, [at(0), 0x10, 64, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    p.mem[4096..4096 + 5000].fill(b'x');
    assert_eq!(
        call(&mut p, nr::READLINK, [at(4096), at(512), 64, 0, 0, 0]),
        err(Errno::ENAMETOOLONG)
    );

    // The host truncates and refuses a zero size the same way.
    let mut buf = [0u8; 8];
    let path = c"/proc/self/exe".as_ptr() as u64;
    assert_eq!(
        host(libc::SYS_readlink, [path, buf.as_mut_ptr() as u64, 3, 0, 0]),
        Ok(3)
    );
    assert_eq!(
        host(libc::SYS_readlink, [path, buf.as_mut_ptr() as u64, 0, 0, 0]),
        Err(libc::EINVAL)
    );
}

#[test]
fn terminal_ioctls() {
    let mut p = FakeProcess::default();
    assert_eq!(
        call(&mut p, nr::IOCTL, [0, libc::TCGETS, at(0), 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.read(0, 36), TERMIOS);
    assert_eq!(
        call(&mut p, nr::IOCTL, [1, libc::TIOCGWINSZ, at(64), 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.read(64, 4), [24, 0, 80, 0]);
    assert_eq!(
        call(&mut p, nr::IOCTL, [2, libc::TCGETS, at(0), 0, 0, 0]),
        err(Errno::ENOTTY),
        "stderr is a file"
    );
    assert_eq!(
        call(&mut p, nr::IOCTL, [0, libc::FIONREAD, at(0), 0, 0, 0]),
        err(Errno::ENOTTY)
    );
    assert_eq!(
        call(&mut p, nr::IOCTL, [5, libc::TCGETS, at(0), 0, 0, 0]),
        err(Errno::EBADF)
    );
    assert_eq!(
        call(&mut p, nr::IOCTL, [0, libc::TCGETS, 0x10, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    assert_eq!(WINSIZE, [24, 80, 0, 0]);

    // The kernel's termios of a fresh pseudo-terminal is ours.
    let (mut master, mut slave) = (0, 0);
    // SAFETY: valid out-pointers; null name, termios and winsize.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r != 0 {
        eprintln!("note: no pseudo-terminals here; not comparing termios");
        return;
    }
    let mut kernel = [0xAAu8; 64];
    assert_eq!(
        host(
            libc::SYS_ioctl,
            [slave as u64, libc::TCGETS, kernel.as_mut_ptr() as u64, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(kernel[..36], TERMIOS);
    assert_eq!(kernel[36..], [0xAA; 28], "the kernel's struct is 36 bytes");
    // SAFETY: closing descriptors we own.
    unsafe {
        libc::close(master);
        libc::close(slave);
    }
}

#[test]
fn console_writes_and_partial_writes() {
    let mut p = FakeProcess::default();
    p.write(0, b"hello, world\n");
    assert_eq!(call(&mut p, nr::WRITE, [1, at(0), 13, 0, 0, 0]), Ok(13));
    assert_eq!(p.console_out[1], b"hello, world\n");
    assert_eq!(call(&mut p, nr::WRITE, [1, at(0), 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        call(&mut p, nr::WRITE, [3, at(0), 5, 0, 0, 0]),
        err(Errno::EBADF)
    );
    assert_eq!(
        call(&mut p, nr::WRITE, [2, 0x10, 5, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    // Partial: the console takes 5 bytes per call.
    p.console_write_limit = 5;
    assert_eq!(call(&mut p, nr::WRITE, [2, at(0), 13, 0, 0, 0]), Ok(5));
    assert_eq!(p.console_out[2], b"hello");
    // A buffer running into unmapped memory: written up to the fault.
    p.console_write_limit = usize::MAX;
    let start = MEM_SIZE as u64 - 8192 - 100;
    assert_eq!(
        call(&mut p, nr::WRITE, [1, at(start), 3 * 4096, 0, 0, 0]),
        Ok(8192 + 100)
    );
    // writev: three buffers, in order; then a short write stops it.
    p.console_out[1].clear();
    p.write(100, b"abcdef");
    p.write_u64s(200, &[at(100), 2, at(102), 0, at(103), 3]);
    assert_eq!(call(&mut p, nr::WRITEV, [1, at(200), 3, 0, 0, 0]), Ok(5));
    assert_eq!(p.console_out[1], b"abdef");
    p.console_write_limit = 1;
    assert_eq!(call(&mut p, nr::WRITEV, [1, at(200), 3, 0, 0, 0]), Ok(1));
    assert_eq!(call(&mut p, nr::WRITEV, [1, at(200), 0, 0, 0, 0]), Ok(0));
    for bad in [u32::MAX as u64, 1025] {
        let ours = errno_of(call(&mut p, nr::WRITEV, [1, at(200), bad, 0, 0, 0]));
        let mut buf = [0u8; 16];
        assert_eq!(
            ours,
            host(libc::SYS_writev, [1, buf.as_mut_ptr() as u64, bad, 0, 0])
        );
    }
    assert_eq!(
        call(&mut p, nr::WRITEV, [1, 0x10, 1, 0, 0, 0]),
        err(Errno::EFAULT)
    );
}

#[test]
fn console_reads() {
    let mut p = FakeProcess {
        console_in: b"first line\nsecond".to_vec(),
        console_read_limit: 11, // a terminal delivers a line at a time
        ..FakeProcess::default()
    };
    assert_eq!(call(&mut p, nr::READ, [0, at(0), 100, 0, 0, 0]), Ok(11));
    assert_eq!(p.read(0, 11), b"first line\n");
    // readv: the second buffer is read only if the first was filled.
    p.write_u64s(200, &[at(300), 4, at(400), 10]);
    assert_eq!(call(&mut p, nr::READV, [0, at(200), 2, 0, 0, 0]), Ok(6));
    assert_eq!(p.read(300, 4), b"seco");
    assert_eq!(p.read(400, 2), b"nd");
    assert_eq!(
        call(&mut p, nr::READ, [0, at(0), 100, 0, 0, 0]),
        Ok(0),
        "end of file"
    );
    assert_eq!(
        call(&mut p, nr::READ, [4, at(0), 100, 0, 0, 0]),
        err(Errno::EBADF)
    );
    assert_eq!(call(&mut p, nr::READ, [0, at(0), 0, 0, 0, 0]), Ok(0));
    p.console_in = b"x".to_vec();
    assert_eq!(
        call(&mut p, nr::READ, [0, 0x10, 100, 0, 0, 0]),
        err(Errno::EFAULT)
    );
}

#[test]
fn sleeping() {
    let mut p = FakeProcess::default();
    let ns_at = |p: &FakeProcess| p.clock.monotonic_ns(p.tsc);
    p.tsc += 2_000_000_000; // 1 s after boot
    p.write_u64s(0, &[2, 500]);
    assert_eq!(call(&mut p, nr::NANOSLEEP, [at(0), 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(p.sleeps, [Deadline(3_000_000_500)]);
    assert_eq!(
        ns_at(&p),
        3_000_000_500,
        "the fake's clock advanced to the deadline"
    );
    // Interrupted: the rest goes to rem.
    p.interrupt_sleep_after = Some(500_000_000);
    assert_eq!(
        call(&mut p, nr::NANOSLEEP, [at(0), at(16), 0, 0, 0, 0]),
        err(Errno::EINTR)
    );
    assert_eq!((p.read_u64(16), p.read_u64(24)), (1, 500_000_500));
    p.interrupt_sleep_after = None;
    // clock_nanosleep: relative, then absolute on two clocks.
    let now = ns_at(&p);
    assert_eq!(
        call(&mut p, nr::CLOCK_NANOSLEEP, [1, 0, at(0), 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.sleeps.last(), Some(&Deadline(now + 2_000_000_500)));
    p.write_u64s(32, &[10, 0]);
    assert_eq!(
        call(&mut p, nr::CLOCK_NANOSLEEP, [1, 1, at(32), 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.sleeps.last(), Some(&Deadline(10_000_000_000)));
    let boot = p.clock.realtime_at_boot_ns;
    p.write_u64s(32, &[boot / 1_000_000_000 + 20, 0]);
    assert_eq!(
        call(&mut p, nr::CLOCK_NANOSLEEP, [0, 1, at(32), 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(p.sleeps.last(), Some(&Deadline(20_000_000_000)));

    let good = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1,
    };
    let bad = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    p.write_u64s(48, &[0, 1]);
    p.write_u64s(64, &[0, 1_000_000_000]);
    let (g, b) = (&good as *const _ as u64, &bad as *const _ as u64);
    for (clock, flags, ours_ts, host_ts) in [
        (3, 0, 48, g),
        (5, 0, 48, g),
        (4, 0, 48, g),
        (99, 0, 48, g),
        (1, 2, 48, g),
        (1, 0, 64, b),
    ] {
        let ours = errno_of(call(
            &mut p,
            nr::CLOCK_NANOSLEEP,
            [clock, flags, at(ours_ts), 0, 0, 0],
        ));
        assert_eq!(
            ours,
            host(libc::SYS_clock_nanosleep, [clock, flags, host_ts, 0, 0]),
            "clock {clock} flags {flags}"
        );
    }
    assert_eq!(
        errno_of(call(&mut p, nr::NANOSLEEP, [at(64), 0, 0, 0, 0, 0])),
        host(libc::SYS_nanosleep, [b, 0, 0, 0, 0])
    );
    assert_eq!(
        call(&mut p, nr::NANOSLEEP, [0x10, 0, 0, 0, 0, 0]),
        err(Errno::EFAULT)
    );
}

#[test]
fn setaffinity_accepts_only_the_whole_job() {
    let mut p = FakeProcess::default(); // cores 1 and 2 of 4
    for (mask, want) in [
        (0b0110u64, Ok(0)),
        (0b1111, Ok(0)),
        (0b0010, err(Errno::EINVAL)),
        (0, err(Errno::EINVAL)),
    ] {
        p.write_u64s(0, &[mask]);
        assert_eq!(
            call(&mut p, nr::SCHED_SETAFFINITY, [0, 8, at(0), 0, 0, 0]),
            want,
            "mask {mask:#b}"
        );
    }
    p.write_u64s(0, &[0b0110]);
    assert_eq!(
        call(&mut p, nr::SCHED_SETAFFINITY, [101, 1, at(0), 0, 0, 0]),
        Ok(0),
        "short mask"
    );
    assert_eq!(
        call(&mut p, nr::SCHED_SETAFFINITY, [55, 8, at(0), 0, 0, 0]),
        err(Errno::ESRCH)
    );
    assert_eq!(
        call(&mut p, nr::SCHED_SETAFFINITY, [0, 8, 0x10, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    // The host also refuses an empty set.
    let empty = [0u8; 8];
    assert_eq!(
        host(
            libc::SYS_sched_setaffinity,
            [0, 8, empty.as_ptr() as u64, 0, 0]
        ),
        Err(libc::EINVAL)
    );
}

#[test]
fn getrusage_and_getcpu() {
    let mut p = FakeProcess::default();
    p.tsc = p.process_start + 3 * 2_000_000_000 + 1_000_000; // 3 s + 500 µs
    assert_eq!(call(&mut p, nr::GETRUSAGE, [0, at(0), 0, 0, 0, 0]), Ok(0));
    let words: Vec<u64> = p
        .read(0, 144)
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(&words[..4], &[3, 500, 0, 0], "utime 3.0005 s, no stime");
    assert_eq!(&words[5..7], &[0, 0], "no page faults");
    assert_eq!(
        call(&mut p, nr::GETRUSAGE, [7, at(0), 0, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(
        call(&mut p, nr::GETCPU, [at(200), at(204), 0, 0, 0, 0]),
        Ok(0)
    );
    // The fake's threads may run on cores 1 and 2: the first is reported.
    assert_eq!(p.read(200, 8), [1, 0, 0, 0, 0, 0, 0, 0]);
}
