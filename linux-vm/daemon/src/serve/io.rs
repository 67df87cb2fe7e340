//! Calls on an open descriptor.

use std::os::fd::AsFd;

use channel::wire::SLOT_DATA_SIZE;
use channel::Errno;

use super::{Answer, Args, Ctx};
use crate::fdtable::FD_CLOEXEC;
use crate::jobs::Job;
use crate::sys::{self, FLOCK_SIZE};

/// Most iovecs one vectored call takes (`IOV_MAX`).
const IOV_MAX: u64 = 1024;

/// Runs `f` on a zeroed buffer of `len` bytes at the end of `ctx.out`, then
/// keeps only the bytes it reports.
fn fill(
    ctx: &mut Ctx,
    len: usize,
    f: impl FnOnce(&mut [u8]) -> Result<usize, Errno>,
) -> Result<u64, Errno> {
    let start = ctx.out.len();
    ctx.out.resize(start + len, 0);
    let n = f(&mut ctx.out[start..]);
    ctx.out.truncate(start + *n.as_ref().unwrap_or(&0));
    n.map(|n| n as u64)
}

/// Whether a `read` of `fd` would wait (a pipe with nothing in it yet,
/// e.g. a launched job's stdin): such a read is answered later, when data
/// or end of file is there, so one waiting job never stalls the daemon.
/// Descriptors the job made non-blocking are read at once (`EAGAIN`).
pub fn would_block(job: &Job, fd: i64) -> bool {
    let Ok(file) = job.file(fd) else {
        return false;
    };
    let nonblocking =
        sys::fcntl_int(file, libc::F_GETFL, 0).is_ok_and(|fl| fl & libc::O_NONBLOCK as u64 != 0);
    !nonblocking && sys::poll1(file, libc::POLLIN, 0) == Ok(0)
}

/// Implements Linux `read(2)`: `(fd, -, count)`; data back.
pub fn read(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let fd = ctx
        .job
        .file(args.fd(0))?
        .try_clone_to_owned()
        .map_err(|_| Errno::EMFILE)?;
    fill(ctx, args.out_len(2), |buf| sys::read(fd.as_fd(), buf))
}

/// Implements Linux `write(2)`: `(fd, data offset, count)`.
pub fn write(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let bytes = args.bytes(1, args.u64(2))?;
    sys::write(ctx.job.file(args.fd(0))?, bytes).map(|n| n as u64)
}

/// Implements Linux `pread64(2)`: `(fd, -, count, offset)`; data back.
pub fn pread64(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let fd = ctx
        .job
        .file(args.fd(0))?
        .try_clone_to_owned()
        .map_err(|_| Errno::EMFILE)?;
    let offset = args.i64(3);
    fill(ctx, args.out_len(2), |buf| {
        sys::pread(fd.as_fd(), buf, offset)
    })
}

/// Implements Linux `pwrite64(2)`: `(fd, data offset, count, offset)`.
pub fn pwrite64(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let bytes = args.bytes(1, args.u64(2))?;
    sys::pwrite(ctx.job.file(args.fd(0))?, bytes, args.i64(3)).map(|n| n as u64)
}

/// The iovec lengths of a vectored call and their sum.
fn iov_total(args: &Args) -> Result<(u64, u64), Errno> {
    let count = args.u64(2);
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let lens = args.u64s(1, count)?;
    let total = lens
        .iter()
        .try_fold(0u64, |sum, &len| sum.checked_add(len))
        .filter(|&t| t <= isize::MAX as u64)
        .ok_or(Errno::EINVAL)?;
    Ok((count, total))
}

/// Implements Linux `readv(2)`: `(fd, offset of the u64 lengths, iovcnt)`;
/// the bytes read back, concatenated (the LWK scatters them).
pub fn readv(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let (_, total) = iov_total(args)?;
    let fd = ctx
        .job
        .file(args.fd(0))?
        .try_clone_to_owned()
        .map_err(|_| Errno::EMFILE)?;
    let len = total.min(SLOT_DATA_SIZE as u64) as usize;
    fill(ctx, len, |buf| sys::read(fd.as_fd(), buf))
}

/// Implements Linux `writev(2)`: `(fd, offset of the u64 lengths, iovcnt)`;
/// the contents, concatenated, follow the lengths.
pub fn writev(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let (count, total) = iov_total(args)?;
    let contents = args.u64(1).checked_add(count * 8).ok_or(Errno::EFAULT)?;
    let bytes = Args::new([contents, 0, 0, 0, 0, 0], args.data).bytes(0, total)?;
    sys::write(ctx.job.file(args.fd(0))?, bytes).map(|n| n as u64)
}

/// Implements Linux `lseek(2)`: `(fd, offset, whence)`.
pub fn lseek(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    sys::lseek(ctx.job.file(args.fd(0))?, args.i64(1), args.int(2))
}

/// Implements Linux `close(2)`: `(fd)`.
pub fn close(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    ctx.job.files.remove(args.fd(0)).map(|_| 0)
}

/// Implements Linux `fstat(2)`: `(fd)`; `struct stat` back.
pub fn fstat(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let stat = sys::fstatat(ctx.job.file(args.fd(0))?, c"", libc::AT_EMPTY_PATH)?;
    ctx.out.extend_from_slice(&stat);
    Ok(0)
}

/// Implements Linux `fsync(2)`: `(fd)`.
pub fn fsync(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    sys::fsync(ctx.job.file(args.fd(0))?)
}

/// Implements Linux `fdatasync(2)`: `(fd)`.
pub fn fdatasync(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    sys::fdatasync(ctx.job.file(args.fd(0))?)
}

/// Implements Linux `ftruncate(2)`: `(fd, length)`.
pub fn ftruncate(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    sys::ftruncate(ctx.job.file(args.fd(0))?, args.i64(1))
}

/// Implements Linux `getdents64(2)`: `(fd, -, count)`; the
/// `linux_dirent64` records back.
pub fn getdents64(ctx: &mut Ctx, args: &Args) -> Result<u64, Errno> {
    let fd = ctx
        .job
        .file(args.fd(0))?
        .try_clone_to_owned()
        .map_err(|_| Errno::EMFILE)?;
    fill(ctx, args.out_len(2), |buf| sys::getdents64(fd.as_fd(), buf))
}

/// Implements Linux `fcntl(2)`: `(fd, cmd, arg)`. Record locks take and
/// return a `struct flock` at the data offset in `arg`.
///
/// Descriptor numbers and `FD_CLOEXEC` live in the job's table. Record
/// locks are served as open file description locks (`F_OFD_*`): every job
/// shares the daemon's process, and process-owned POSIX locks would never
/// conflict between jobs; OFD locks conflict between different opens, as
/// POSIX locks between processes do (`l_pid` reads back as -1). A
/// `F_SETLKW` that would wait is answered later, when the lock is free
/// ([`Answer::Later`]), so one waiting job never stalls the others.
pub fn fcntl(ctx: &mut Ctx, args: &Args) -> Answer {
    let fd = args.fd(0);
    let cmd = args.int(1);
    let result = match cmd {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => ctx
            .job
            .file(fd)
            .and_then(sys::dup)
            .and_then(|new| {
                let cloexec = cmd == libc::F_DUPFD_CLOEXEC;
                ctx.job.files.insert(args.u64(2), new, cloexec)
            })
            .map(|n| n as u64),
        libc::F_GETFD => ctx.job.files.flags(fd),
        libc::F_SETFD => ctx
            .job
            .files
            .set_flags(fd, args.u64(2) & FD_CLOEXEC)
            .map(|()| 0),
        libc::F_GETFL => ctx
            .job
            .file(fd)
            .and_then(|f| sys::fcntl_int(f, libc::F_GETFL, 0)),
        libc::F_SETFL => ctx
            .job
            .file(fd)
            .and_then(|f| sys::fcntl_int(f, libc::F_SETFL, args.int(2).into())),
        libc::F_GETLK
        | libc::F_SETLK
        | libc::F_SETLKW
        | libc::F_OFD_GETLK
        | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW => return lock(ctx, args, cmd),
        _ => Err(Errno::EINVAL),
    };
    Answer::Done(result)
}

/// The record-lock commands of [`fcntl`].
fn lock(ctx: &mut Ctx, args: &Args, cmd: i32) -> Answer {
    let get = matches!(cmd, libc::F_GETLK | libc::F_OFD_GETLK);
    let wait = matches!(cmd, libc::F_SETLKW | libc::F_OFD_SETLKW);
    let mut flock: [u8; FLOCK_SIZE] = match args.bytes(2, FLOCK_SIZE as u64) {
        Ok(bytes) => bytes.try_into().expect("FLOCK_SIZE bytes"),
        Err(e) => return Answer::Done(Err(e)),
    };
    // OFD locks require l_pid == 0 (struct flock: type, whence, start, len,
    // then pid at byte 24).
    flock[24..28].copy_from_slice(&0i32.to_ne_bytes());
    let ofd = if get {
        libc::F_OFD_GETLK
    } else {
        libc::F_OFD_SETLK
    };
    let result = ctx
        .job
        .file(args.fd(0))
        .and_then(|file| sys::fcntl_lock(file, ofd, &mut flock));
    match result {
        Err(e) if wait && (e == Errno::EAGAIN || e == Errno::EACCES) => Answer::Later,
        Ok(r) => {
            if get {
                ctx.out.extend_from_slice(&flock);
            }
            Answer::Done(Ok(r))
        }
        Err(e) => Answer::Done(Err(e)),
    }
}
