//! The memory system calls through the table, against a fake process; the
//! argument errors compared with the host kernel's answers.

mod common;

use common::fake::FakeProcess;
use lwk_personality::loader::elf;
use lwk_personality::mm::{MapFail, MmError, PageSize, VmaKind};
use lwk_personality::syscall::{nr, Args, Dispatcher, Errno, JobFault, SysError, SysResult};

const K4: u64 = 4096;
const M2: u64 = 2 << 20;
const RW: u64 = (libc::PROT_READ | libc::PROT_WRITE) as u64;
const ANON: u64 = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
const NO_FD: u64 = u64::MAX; // -1

fn call(p: &mut FakeProcess, n: usize, args: [u64; 6]) -> SysResult {
    Dispatcher::new().dispatch(p, n as u64, Args::new(args))
}

fn err(e: Errno) -> SysResult {
    Err(SysError::Errno(e))
}

fn mmap(p: &mut FakeProcess, addr: u64, len: u64, prot: u64, flags: u64) -> SysResult {
    call(p, nr::MMAP, [addr, len, prot, flags, NO_FD, 0])
}

#[test]
fn mmap_anonymous() {
    let mut p = FakeProcess::default();
    let a = mmap(&mut p, 0, 200 << 10, RW, ANON).unwrap();
    assert_eq!(a % M2, 0);
    assert_eq!(p.space.vmas().find(a).map(|v| v.kind), Some(VmaKind::Anon));
    let stack_flags = ANON | libc::MAP_STACK as u64 | libc::MAP_NORESERVE as u64;
    let s = mmap(&mut p, 0, 8 << 20, RW, stack_flags).unwrap();
    assert_eq!(
        p.space.vmas().find(s).map(|v| v.kind),
        Some(VmaKind::ThreadStack)
    );
    // Shared anonymous memory is private memory in a job that never forks.
    let shared = (libc::MAP_SHARED | libc::MAP_ANONYMOUS) as u64;
    assert!(mmap(&mut p, 0, K4, RW, shared).is_ok());
    // Unknown prot bits are ignored by mmap (not by mprotect).
    assert!(mmap(&mut p, 0, K4, RW | 0x100, ANON).is_ok());
    let low = mmap(&mut p, 0, K4, RW, ANON | libc::MAP_32BIT as u64).unwrap();
    assert!(low < 1 << 31);
    let fixed = ANON | libc::MAP_FIXED_NOREPLACE as u64;
    assert_eq!(mmap(&mut p, a, K4, RW, fixed), err(Errno::EEXIST));
    assert_eq!(
        call(
            &mut p,
            nr::MMAP,
            [0, K4, RW, libc::MAP_PRIVATE as u64, 3, 0]
        ),
        err(Errno::ENODEV),
        "file mappings wait for the Linux VM"
    );
    p.backing.check_matches(&p.space);
}

#[test]
fn brk_through_the_table() {
    let mut p = FakeProcess::default();
    assert_eq!(call(&mut p, nr::BRK, [0; 6]), Ok(0), "no image, no heap");
    let plan = elf::parse(&common::mini_elf()).unwrap();
    p.space.load_image(&mut p.backing, &plan).unwrap();
    let start = call(&mut p, nr::BRK, [0; 6]).unwrap();
    assert_eq!(
        call(&mut p, nr::BRK, [start + 12345, 0, 0, 0, 0, 0]),
        Ok(start + 12345)
    );
    assert_eq!(
        call(&mut p, nr::BRK, [1 << 50, 0, 0, 0, 0, 0]),
        Ok(start + 12345)
    );
    p.backing.check_matches(&p.space);
}

#[test]
fn munmap_mprotect_mremap_madvise() {
    let mut p = FakeProcess::default();
    let a = mmap(&mut p, 0, 4 * K4, RW, ANON).unwrap();
    let prot_sem = 0x8;
    assert_eq!(
        call(&mut p, nr::MPROTECT, [a, K4, 1 | prot_sem, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        call(&mut p, nr::MPROTECT, [a, 5 * K4, 1, 0, 0, 0]),
        err(Errno::ENOMEM)
    );
    assert_eq!(
        call(
            &mut p,
            nr::MPROTECT,
            [a, K4, libc::PROT_GROWSDOWN as u64 | 1, 0, 0, 0]
        ),
        err(Errno::EINVAL)
    );
    p.backing.store(a + K4, 9);
    assert_eq!(
        call(
            &mut p,
            nr::MADVISE,
            [a, 4 * K4, libc::MADV_DONTNEED as u64, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(p.backing.load(a + K4), Some(0));
    assert_eq!(
        call(
            &mut p,
            nr::MADVISE,
            [a, K4, libc::MADV_FREE as u64, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        call(
            &mut p,
            nr::MADVISE,
            [a, K4, libc::MADV_HUGEPAGE as u64, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        call(
            &mut p,
            nr::MADVISE,
            [a, 8 * K4, libc::MADV_WILLNEED as u64, 0, 0, 0]
        ),
        err(Errno::ENOMEM)
    );
    assert_eq!(
        call(
            &mut p,
            nr::MADVISE,
            [a, K4, libc::MADV_HWPOISON as u64, 0, 0, 0]
        ),
        err(Errno::EPERM)
    );
    assert_eq!(
        call(
            &mut p,
            nr::MADVISE,
            [a, K4, libc::MADV_REMOVE as u64, 0, 0, 0]
        ),
        err(Errno::EINVAL)
    );
    assert_eq!(
        call(&mut p, nr::MREMAP, [a, 4 * K4, 3 * M2, 1, 0, 0]),
        err(Errno::EFAULT),
        "two mappings"
    );
    assert_eq!(call(&mut p, nr::MPROTECT, [a, K4, RW, 0, 0, 0]), Ok(0));
    let moved = call(&mut p, nr::MREMAP, [a, 4 * K4, 3 * M2, 1, 0, 0]).unwrap();
    assert_eq!(moved, a, "room to grow in place");
    let dontunmap = 1 | 4;
    assert_eq!(
        call(&mut p, nr::MREMAP, [a, K4, K4, dontunmap, 0, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(call(&mut p, nr::MUNMAP, [a, 3 * M2, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        call(&mut p, nr::MUNMAP, [a, 3 * M2, 0, 0, 0, 0]),
        Ok(0),
        "unmapping nothing is fine"
    );
    assert_eq!(p.space.pages().len(), 0);
    p.backing.check_matches(&p.space);
}

#[test]
fn exhaustion_and_backing_failures() {
    let mut p = FakeProcess::default();
    let pool = p.backing.free_count(PageSize::Large2M) as u64;
    assert_eq!(
        mmap(&mut p, 0, (pool + 1) * M2, RW, ANON),
        err(Errno::ENOMEM)
    );
    assert_eq!(p.backing.free_count(PageSize::Large2M) as u64, pool);
    assert_eq!(
        SysError::from(MmError::Backing(MapFail::Refused)),
        SysError::Kill(JobFault::Mapping(MapFail::Refused)),
        "a refused change to an existing mapping ends the job"
    );
    assert_eq!(
        SysError::from(MmError::Denied),
        SysError::Errno(Errno::EPERM)
    );
}

/// Argument errors that do not depend on what is mapped, each answered
/// first by the host kernel (the oracle), then by the table.
#[test]
fn argument_errors_match_linux() {
    // Unmapped in this test process (its image, heap and mappings are far
    // away), and in the fake.
    let free = 1 << 32;
    let cases: &[(usize, [u64; 6])] = &[
        (nr::MMAP, [0, 0, RW, ANON, NO_FD, 0]),
        (nr::MMAP, [0, K4, RW, libc::MAP_ANONYMOUS as u64, NO_FD, 0]),
        (nr::MMAP, [0, K4, RW, ANON, NO_FD, 5]),
        (nr::MMAP, [0, K4, RW, libc::MAP_PRIVATE as u64, NO_FD, 0]),
        (nr::MMAP, [0, u64::MAX - 4095, RW, ANON, NO_FD, 0]),
        (
            nr::MMAP,
            [0x1000_0001, K4, RW, ANON | libc::MAP_FIXED as u64, NO_FD, 0],
        ),
        (
            nr::MMAP,
            [
                (1 << 47) - K4,
                2 * K4,
                RW,
                ANON | libc::MAP_FIXED as u64,
                NO_FD,
                0,
            ],
        ),
        (nr::MPROTECT, [free + 1, K4, 1, 0, 0, 0]),
        (nr::MPROTECT, [free, K4, 0x100, 0, 0, 0]),
        (nr::MUNMAP, [free, 0, 0, 0, 0, 0]),
        (nr::MUNMAP, [free + 1, K4, 0, 0, 0, 0]),
        (nr::MUNMAP, [(1 << 47) - K4, 2 * K4, 0, 0, 0, 0]),
        (nr::MREMAP, [free, K4, 2 * K4, 0, 0, 0]),
        (nr::MREMAP, [free, K4, 0, 0, 0, 0]),
        (nr::MREMAP, [free, 0, K4, 1, 0, 0]),
        (nr::MREMAP, [free, K4, K4, 2, free + M2, 0]),
        (nr::MREMAP, [free, K4, K4, 0x80, 0, 0]),
        (nr::MREMAP, [free + 1, K4, K4, 1, 0, 0]),
        (nr::MADVISE, [free, K4, 999, 0, 0, 0]),
        (
            nr::MADVISE,
            [free + 1, K4, libc::MADV_DONTNEED as u64, 0, 0, 0],
        ),
        (nr::MADVISE, [free, K4, libc::MADV_DONTNEED as u64, 0, 0, 0]),
    ];
    for &(n, args) in cases {
        // SAFETY: every case fails on the host before touching memory.
        let host = unsafe {
            libc::syscall(
                n as i64, args[0], args[1], args[2], args[3], args[4], args[5],
            )
        };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap();
        assert_eq!(
            host,
            -1,
            "{} {args:x?} succeeded on the host",
            nr::name(n).unwrap()
        );
        let mut p = FakeProcess::default();
        let ours = call(&mut p, n, args);
        assert_eq!(
            ours.map_err(|e| match e {
                SysError::Errno(e) => e.code(),
                other => panic!("{other:?}"),
            }),
            Err(errno),
            "{} {args:x?}",
            nr::name(n).unwrap()
        );
    }
}
