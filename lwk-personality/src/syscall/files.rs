//! Calls on file descriptors. Each looks the descriptor up in the job's
//! table: a console stream (standalone mode) is answered locally by
//! `io.rs`; a descriptor of the Linux daemon is shipped. Transfers are
//! split into chunks of one shared-buffer slot; a short count from the
//! daemon ends the transfer there, so nothing is lost or duplicated.

use super::args::{Args, UserAddr};
use super::errno::Errno;
use super::io;
use super::process::Process;
use super::ship::{self, remote_fd, Opcode, CHUNK};
use super::SysResult;
use crate::fd::Target;
use alloc::vec;

/// Linux caps one read or write at this (`MAX_RW_COUNT`).
const MAX_RW_COUNT: usize = 0x7fff_f000;
const F_DUPFD: u32 = 0;
const F_GETFD: u32 = 1;
const F_SETFD: u32 = 2;
const F_GETLK: u32 = 5;
const F_SETLK: u32 = 6;
const F_SETLKW: u32 = 7;
const F_DUPFD_CLOEXEC: u32 = 1030;
const FD_CLOEXEC: u64 = 1;
/// `O_CLOEXEC`, the only flag `dup3` takes.
pub const O_CLOEXEC: u64 = 0o2_000_000;
/// `sizeof(struct flock)` on x86_64.
const FLOCK_SIZE: usize = 32;
const STAT_SIZE: usize = 144;

/// Reads at most one chunk of remote `fd` at `pos` (`None`: the file
/// position) into `buf`.
fn remote_read_chunk(
    p: &mut dyn Process,
    fd: i32,
    buf: UserAddr,
    len: usize,
    pos: Option<u64>,
) -> Result<usize, Errno> {
    let n = len.min(CHUNK);
    let (op, args) = match pos {
        None => (Opcode::Read, [fd as u64, 0, n as u64, 0, 0, 0]),
        Some(at) => (Opcode::Pread64, [fd as u64, 0, n as u64, at, 0, 0]),
    };
    let (r, data) = ship::call_reading(p, op, args, &[], n)?;
    let got = (r as usize).min(data.len());
    p.copy_out(buf, &data[..got])?;
    Ok(got)
}

/// Writes at most one chunk from `buf` to remote `fd` (at `pos`).
fn remote_write_chunk(
    p: &mut dyn Process,
    fd: i32,
    buf: UserAddr,
    len: usize,
    pos: Option<u64>,
) -> Result<usize, Errno> {
    let mut data = vec![0u8; len.min(CHUNK)];
    p.copy_in(buf, &mut data)?;
    let n = data.len() as u64;
    let (op, args) = match pos {
        None => (Opcode::Write, [fd as u64, 0, n, 0, 0, 0]),
        Some(at) => (Opcode::Pwrite64, [fd as u64, 0, n, at, 0, 0]),
    };
    Ok((ship::call(p, op, args, &data)? as usize).min(data.len()))
}

/// Moves `len` bytes chunk by chunk; stops at a short chunk (end of file,
/// a full disk, a pipe with less) or an error after some progress.
fn transfer(
    p: &mut dyn Process,
    len: usize,
    one_chunk: bool,
    mut step: impl FnMut(&mut dyn Process, usize, usize) -> Result<usize, Errno>,
) -> Result<usize, Errno> {
    let mut done = 0;
    while done < len {
        let want = (len - done).min(CHUNK);
        match step(p, done, want) {
            Ok(n) => {
                done += n;
                if n < want || one_chunk {
                    break;
                }
            }
            Err(e) => return io::partial(done, e),
        }
    }
    Ok(done)
}

/// `read` of `len` bytes of `t` into `buf`: one console read, one chunk
/// of a relayed stream, as many chunks as it takes of a file.
fn read_target(p: &mut dyn Process, t: Target, buf: UserAddr, len: usize) -> Result<usize, Errno> {
    match t {
        Target::Console(fd) => io::read_into(p, fd, buf, len),
        Target::Remote { fd, opened } => transfer(p, len, !opened, |p, off, n| {
            let at = buf.offset(off as u64).ok_or(Errno::EFAULT)?;
            remote_read_chunk(p, fd, at, n, None)
        }),
    }
}

fn write_target(p: &mut dyn Process, t: Target, buf: UserAddr, len: usize) -> Result<usize, Errno> {
    match t {
        Target::Console(fd) => io::write_from(p, fd, buf, len),
        Target::Remote { fd, .. } => transfer(p, len, false, |p, off, n| {
            let at = buf.offset(off as u64).ok_or(Errno::EFAULT)?;
            remote_write_chunk(p, fd, at, n, None)
        }),
    }
}

/// Implements Linux `read(2)`: console streams locally, the rest shipped.
pub fn read(p: &mut dyn Process, args: Args) -> SysResult {
    let t = p.fds().get(args.fd(0))?;
    let len = args.len(2).min(MAX_RW_COUNT);
    if len == 0 {
        return Ok(0);
    }
    Ok(read_target(p, t, args.ptr(1), len)? as u64)
}

/// Implements Linux `write(2)`: console streams locally, the rest shipped.
pub fn write(p: &mut dyn Process, args: Args) -> SysResult {
    let t = p.fds().get(args.fd(0))?;
    let len = args.len(2).min(MAX_RW_COUNT);
    Ok(write_target(p, t, args.ptr(1), len)? as u64)
}

/// `readv`/`writev`: buffer after buffer through `one`, the next only if
/// the previous was done whole (Linux's loop for files without vectored
/// transfers); an error after some progress returns the progress.
fn vectored(
    p: &mut dyn Process,
    args: Args,
    one: fn(&mut dyn Process, Target, UserAddr, usize) -> Result<usize, Errno>,
) -> SysResult {
    let t = p.fds().get(args.fd(0))?;
    let mut done = 0;
    for (base, len) in io::iovecs(p, args.ptr(1), args.int(2))? {
        match one(p, t, base, len) {
            Ok(n) => {
                done += n;
                if n < len {
                    break;
                }
            }
            Err(e) => return Ok(io::partial(done, e)? as u64),
        }
    }
    Ok(done as u64)
}

/// Implements Linux `readv(2)`.
pub fn readv(p: &mut dyn Process, args: Args) -> SysResult {
    vectored(p, args, read_target)
}

/// Implements Linux `writev(2)`.
pub fn writev(p: &mut dyn Process, args: Args) -> SysResult {
    vectored(p, args, write_target)
}

/// One chunk of a transfer with remote descriptor `fd` at a position.
type ChunkFn = fn(&mut dyn Process, i32, UserAddr, usize, Option<u64>) -> Result<usize, Errno>;

/// `pread64`/`pwrite64`: chunk after chunk through `chunk` at the given
/// position (`ESPIPE` on the console).
fn positioned(p: &mut dyn Process, args: Args, chunk: ChunkFn) -> SysResult {
    let fd = remote_fd(p, args.fd(0), Errno::ESPIPE)?;
    let (buf, len, pos) = (args.ptr(1), args.len(2).min(MAX_RW_COUNT), args.long(3));
    let pos = u64::try_from(pos).map_err(|_| Errno::EINVAL)?;
    let n = transfer(p, len, false, |p, off, n| {
        let at = buf.offset(off as u64).ok_or(Errno::EFAULT)?;
        chunk(p, fd, at, n, Some(pos + off as u64))
    })?;
    Ok(n as u64)
}

/// Implements Linux `pread64(2)`; shipped.
pub fn pread64(p: &mut dyn Process, args: Args) -> SysResult {
    positioned(p, args, remote_read_chunk)
}

/// Implements Linux `pwrite64(2)`; shipped.
pub fn pwrite64(p: &mut dyn Process, args: Args) -> SysResult {
    positioned(p, args, remote_write_chunk)
}

/// A call whose arguments after the descriptor pass through unchanged:
/// `lseek`, `ftruncate`, `fsync`, `fdatasync`.
fn pass_through(p: &mut dyn Process, args: Args, op: Opcode, console: Errno) -> SysResult {
    let fd = remote_fd(p, args.fd(0), console)?;
    Ok(ship::call(
        p,
        op,
        [fd as u64, args.raw(1), args.raw(2), 0, 0, 0],
        &[],
    )?)
}

/// Implements Linux `lseek(2)`; shipped.
pub fn lseek(p: &mut dyn Process, args: Args) -> SysResult {
    pass_through(p, args, Opcode::Lseek, Errno::ESPIPE)
}

/// Implements Linux `ftruncate(2)`; shipped.
pub fn ftruncate(p: &mut dyn Process, args: Args) -> SysResult {
    pass_through(p, args, Opcode::Ftruncate, Errno::EINVAL)
}

/// Implements Linux `fsync(2)`; shipped (`EINVAL` on the console, as on
/// a terminal).
pub fn fsync(p: &mut dyn Process, args: Args) -> SysResult {
    pass_through(p, args, Opcode::Fsync, Errno::EINVAL)
}

/// Implements Linux `fdatasync(2)`; shipped.
pub fn fdatasync(p: &mut dyn Process, args: Args) -> SysResult {
    pass_through(p, args, Opcode::Fdatasync, Errno::EINVAL)
}

/// Closes the daemon's descriptor behind a local name that went away.
fn close_remote(p: &mut dyn Process, remote: Option<i32>) -> Result<(), Errno> {
    match remote {
        Some(fd) => ship::call(p, Opcode::Close, [fd as u64, 0, 0, 0, 0, 0], &[]).map(drop),
        None => Ok(()),
    }
}

/// Implements Linux `close(2)`: the local name goes at once; the daemon's
/// descriptor closes with its last name (its error, e.g. a deferred write
/// error, is returned as Linux does).
pub fn close(p: &mut dyn Process, args: Args) -> SysResult {
    let remote = p.fds().close(args.fd(0))?;
    close_remote(p, remote)?;
    Ok(0)
}

/// Implements Linux `dup(2)`; local.
pub fn dup(p: &mut dyn Process, args: Args) -> SysResult {
    Ok(p.fds().dup_from(args.fd(0), 0, false)? as u64)
}

/// Implements Linux `dup2(2)`; local (closing a replaced descriptor's last
/// name is shipped).
pub fn dup2(p: &mut dyn Process, args: Args) -> SysResult {
    let (old, new) = (args.fd(0), args.fd(1));
    if old == new {
        p.fds().get(old)?;
        return Ok(new as u64);
    }
    let closed = p.fds().dup_to(old, new, false)?;
    // Linux ignores the implicit close's error.
    let _ = close_remote(p, closed);
    Ok(new as u64)
}

/// Implements Linux `dup3(2)`; local.
pub fn dup3(p: &mut dyn Process, args: Args) -> SysResult {
    let (old, new, flags) = (args.fd(0), args.fd(1), args.raw(2));
    if old == new || flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL.into());
    }
    let closed = p.fds().dup_to(old, new, flags & O_CLOEXEC != 0)?;
    let _ = close_remote(p, closed);
    Ok(new as u64)
}

/// Implements Linux `fcntl(2)`: duplication and the close-on-exec bit are
/// the table's (local); status flags and record locks are the open file's
/// (shipped; the console answers them locally).
pub fn fcntl(p: &mut dyn Process, args: Args) -> SysResult {
    let (fd, cmd, arg) = (args.fd(0), args.uint(1), args.raw(2));
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = i32::try_from(arg).map_err(|_| Errno::EINVAL)?;
            return Ok(p.fds().dup_from(fd, min, cmd == F_DUPFD_CLOEXEC)? as u64);
        }
        F_GETFD => return Ok(p.fds().cloexec(fd)? as u64),
        F_SETFD => {
            p.fds().set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            return Ok(0);
        }
        _ => {}
    }
    match p.fds().get(fd)? {
        Target::Console(fd) => io::console_fcntl(p, fd, cmd),
        Target::Remote { fd, .. } if matches!(cmd, F_GETLK | F_SETLK | F_SETLKW) => {
            let mut flock = [0u8; FLOCK_SIZE];
            p.copy_in(args.ptr(2), &mut flock)?;
            let (r, back) = ship::call_reading(
                p,
                Opcode::Fcntl,
                [fd as u64, cmd as u64, 0, 0, 0, 0],
                &flock,
                FLOCK_SIZE,
            )?;
            if cmd == F_GETLK && back.len() == FLOCK_SIZE {
                p.copy_out(args.ptr(2), &back)?;
            }
            Ok(r)
        }
        Target::Remote { fd, .. } => Ok(ship::call(
            p,
            Opcode::Fcntl,
            [fd as u64, cmd as u64, arg, 0, 0, 0],
            &[],
        )?),
    }
}

/// Implements Linux `fstat(2)`: the console locally, files shipped.
pub fn fstat(p: &mut dyn Process, args: Args) -> SysResult {
    fstat_fd(p, args.fd(0), args.ptr(1))
}

/// `fstat` of `fd` into `buf` (also `newfstatat(fd, "", AT_EMPTY_PATH)`).
pub fn fstat_fd(p: &mut dyn Process, fd: i32, buf: UserAddr) -> SysResult {
    match p.fds().get(fd)? {
        Target::Console(fd) => {
            let st = io::console_stat(p, fd);
            p.copy_out(buf, &st)?;
        }
        Target::Remote { fd, .. } => {
            let (_, st) =
                ship::call_reading(p, Opcode::Fstat, [fd as u64, 0, 0, 0, 0, 0], &[], STAT_SIZE)?;
            if st.len() != STAT_SIZE {
                return Err(Errno::EIO.into());
            }
            p.copy_out(buf, &st)?;
        }
    }
    Ok(0)
}

/// Implements Linux `ioctl(2)`: terminal requests on console streams;
/// shipped descriptors are files or relayed streams, not terminals.
pub fn ioctl(p: &mut dyn Process, args: Args) -> SysResult {
    match p.fds().get(args.fd(0))? {
        Target::Console(fd) => io::console_ioctl(p, fd, args),
        Target::Remote { .. } => Err(Errno::ENOTTY.into()),
    }
}

/// Implements Linux `getdents64(2)`; shipped, at most one chunk per call
/// (the program calls again until it gets 0).
pub fn getdents64(p: &mut dyn Process, args: Args) -> SysResult {
    let fd = remote_fd(p, args.fd(0), Errno::ENOTDIR)?;
    let n = args.len(2).min(CHUNK);
    let (r, data) = ship::call_reading(
        p,
        Opcode::Getdents64,
        [fd as u64, 0, n as u64, 0, 0, 0],
        &[],
        n,
    )?;
    let got = (r as usize).min(data.len());
    p.copy_out(args.ptr(1), &data[..got])?;
    Ok(got as u64)
}
