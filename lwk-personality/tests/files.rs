//! Shipped file calls against a stand-in daemon: descriptor translation,
//! `dup` families, chunked transfers, short counts, errors.

mod common;

use common::fake::FakeProcess;
use lwk_personality::syscall::ship::{Opcode, CHUNK};
use lwk_personality::syscall::{nr, Args, Dispatcher, Errno, SysError, SysResult};

fn call(p: &mut FakeProcess, n: usize, args: [u64; 6]) -> SysResult {
    Dispatcher::new().dispatch(p, n as u64, Args::new(args))
}

fn err(e: Errno) -> SysResult {
    Err(SysError::Errno(e))
}

fn at(off: u64) -> u64 {
    FakeProcess::at(off).0
}

const AT_FDCWD: u64 = -100i64 as u64;
const O_RDWR_CREAT: u64 = 0o102;
const O_CLOEXEC: u64 = 0o2_000_000;

/// Opens `name` (written at offset 0 of user memory) and returns the fd.
fn open(p: &mut FakeProcess, name: &[u8], flags: u64) -> u64 {
    let mut z = name.to_vec();
    z.push(0);
    p.write(0, &z);
    call(p, nr::OPENAT, [AT_FDCWD, at(0), flags, 0o644, 0, 0]).unwrap()
}

fn daemon(p: &mut FakeProcess) -> &mut common::daemon::FakeDaemon {
    p.daemon.as_mut().unwrap()
}

#[test]
fn standalone_mode_has_no_files() {
    let mut p = FakeProcess::default();
    p.write(0, b"x\0");
    assert_eq!(
        call(&mut p, nr::OPENAT, [AT_FDCWD, at(0), 0, 0, 0, 0]),
        err(Errno::ENOSYS)
    );
    assert_eq!(
        call(&mut p, nr::READ, [5, at(0), 1, 0, 0, 0]),
        err(Errno::EBADF)
    );
    assert_eq!(
        call(&mut p, nr::LSEEK, [1, 0, 0, 0, 0, 0]),
        err(Errno::ESPIPE)
    );
}

#[test]
fn open_write_read_back_through_the_daemon() {
    let mut p = FakeProcess::shipping();
    let fd = open(&mut p, b"out.txt", O_RDWR_CREAT);
    assert_eq!(fd, 3, "lowest free number after 0-2");
    p.write(64, b"hello, linux");
    assert_eq!(call(&mut p, nr::WRITE, [fd, at(64), 12, 0, 0, 0]), Ok(12));
    assert_eq!(daemon(&mut p).files[&b"out.txt".to_vec()], b"hello, linux");
    assert_eq!(call(&mut p, nr::PREAD64, [fd, at(256), 5, 7, 0, 0]), Ok(5));
    assert_eq!(p.read(256, 5), b"linux");
    // fstat's size comes back in the right place.
    assert_eq!(call(&mut p, nr::FSTAT, [fd, at(512), 0, 0, 0, 0]), Ok(0));
    assert_eq!(p.read(512 + 48, 8), 12u64.to_le_bytes());
    assert_eq!(call(&mut p, nr::CLOSE, [fd, 0, 0, 0, 0, 0]), Ok(0));
    assert!(!daemon(&mut p).is_open(3));
    assert_eq!(
        call(&mut p, nr::CLOSE, [fd, 0, 0, 0, 0, 0]),
        err(Errno::EBADF)
    );
    p.write(0, b"missing\0");
    assert_eq!(
        call(&mut p, nr::OPENAT, [AT_FDCWD, at(0), 0, 0, 0, 0]),
        err(Errno::ENOENT)
    );
}

#[test]
fn stdout_is_the_daemons_fd_1() {
    let mut p = FakeProcess::shipping();
    p.write(64, b"out");
    assert_eq!(call(&mut p, nr::WRITE, [1, at(64), 3, 0, 0, 0]), Ok(3));
    let (op, args) = *daemon(&mut p).calls.last().unwrap();
    assert_eq!((op, args[0], args[2]), (Opcode::Write, 1, 3));
    assert!(p.console_out[1].is_empty(), "not the console");
}

#[test]
fn large_transfers_go_in_chunks_and_stop_at_a_short_count() {
    let mut p = FakeProcess::shipping();
    p.mem.resize(4 * CHUNK + 4096, 0);
    let fd = open(&mut p, b"big", O_RDWR_CREAT);
    let len = 2 * CHUNK + 100;
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    p.write(4096, &data);
    assert_eq!(
        call(&mut p, nr::WRITE, [fd, at(4096), len as u64, 0, 0, 0]),
        Ok(len as u64)
    );
    let writes = daemon(&mut p)
        .calls
        .iter()
        .filter(|c| c.0 == Opcode::Write)
        .count();
    assert_eq!(writes, 3, "two full chunks and the rest");
    assert_eq!(daemon(&mut p).files[&b"big".to_vec()], data);

    // A read of a file takes as many chunks as needed...
    let fd2 = open(&mut p, b"big", 0);
    p.write(4096, &vec![0; len]);
    assert_eq!(
        call(&mut p, nr::READ, [fd2, at(4096), 4 * CHUNK as u64, 0, 0, 0]),
        Ok(len as u64),
        "ends at the end of the file"
    );
    assert_eq!(p.read(4096, len), data);
    // ...but stops at the first short one, which loses nothing.
    let fd3 = open(&mut p, b"big", 0);
    daemon(&mut p).max_transfer = Some(1000);
    assert_eq!(
        call(&mut p, nr::READ, [fd3, at(4096), 5000, 0, 0, 0]),
        Ok(1000)
    );
    assert_eq!(
        call(&mut p, nr::READ, [fd3, at(4096), 5000, 0, 0, 0]),
        Ok(1000)
    );
    assert_eq!(p.read(4096, 1000), &data[1000..2000]);
}

#[test]
fn relayed_stdin_reads_one_chunk() {
    let mut p = FakeProcess::shipping();
    p.mem.resize(3 * CHUNK, 0);
    daemon(&mut p)
        .files
        .insert(b"<std0>".to_vec(), vec![b'x'; 2 * CHUNK]);
    assert_eq!(
        call(&mut p, nr::READ, [0, at(0), 2 * CHUNK as u64, 0, 0, 0]),
        Ok(CHUNK as u64),
        "a stream read returns what one answer brings"
    );
}

#[test]
fn dup_families_share_and_close_with_the_last_name() {
    let mut p = FakeProcess::shipping();
    let fd = open(&mut p, b"f", O_RDWR_CREAT | O_CLOEXEC);
    assert_eq!(
        call(&mut p, nr::FCNTL, [fd, 1, 0, 0, 0, 0]),
        Ok(1),
        "FD_CLOEXEC"
    );
    let d = call(&mut p, nr::DUP, [fd, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(call(&mut p, nr::FCNTL, [d, 1, 0, 0, 0, 0]), Ok(0));
    assert_eq!(call(&mut p, nr::DUP2, [fd, 1, 0, 0, 0, 0]), Ok(1));
    assert!(!daemon(&mut p).is_open(1), "the daemon's stdout was closed");
    p.write(64, b"abc");
    assert_eq!(call(&mut p, nr::WRITE, [1, at(64), 3, 0, 0, 0]), Ok(3));
    assert_eq!(daemon(&mut p).files[&b"f".to_vec()], b"abc");
    assert_eq!(
        call(&mut p, nr::DUP3, [fd, fd, 0, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(
        call(&mut p, nr::DUP3, [fd, 9, 1, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(call(&mut p, nr::DUP3, [fd, 9, O_CLOEXEC, 0, 0, 0]), Ok(9));
    assert_eq!(
        call(&mut p, nr::FCNTL, [fd, 1030, 20, 0, 0, 0]),
        Ok(20),
        "F_DUPFD_CLOEXEC"
    );
    for f in [fd, d, 1, 9] {
        assert_eq!(call(&mut p, nr::CLOSE, [f, 0, 0, 0, 0, 0]), Ok(0));
        assert!(daemon(&mut p).is_open(3), "still named by fd 20");
    }
    assert_eq!(call(&mut p, nr::CLOSE, [20, 0, 0, 0, 0, 0]), Ok(0));
    assert!(!daemon(&mut p).is_open(3));
}

#[test]
fn paths_and_a_dead_daemon() {
    let mut p = FakeProcess::shipping();
    open(&mut p, b"a", O_RDWR_CREAT);
    p.write(0, b"a\0b\0");
    assert_eq!(call(&mut p, nr::RENAME, [at(0), at(2), 0, 0, 0, 0]), Ok(0));
    assert!(daemon(&mut p).files.contains_key(b"b".as_slice()));
    assert_eq!(call(&mut p, nr::UNLINK, [at(2), 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        call(&mut p, nr::UNLINK, [at(2), 0, 0, 0, 0, 0]),
        err(Errno::ENOENT)
    );
    // A console-less directory argument: fd 0 is a stream, not a directory
    // (the daemon answers for its own descriptors); a closed one is EBADF.
    assert_eq!(
        call(&mut p, nr::OPENAT, [77, at(0), 0, 0, 0, 0]),
        err(Errno::EBADF)
    );
    daemon(&mut p).fail = Some(Errno::EIO);
    p.write(64, b"x");
    assert_eq!(
        call(&mut p, nr::WRITE, [1, at(64), 1, 0, 0, 0]),
        err(Errno::EIO)
    );
    assert_eq!(
        call(&mut p, nr::OPENAT, [AT_FDCWD, at(0), 0, 0, 0, 0]),
        err(Errno::EIO)
    );
}
