//! Serving one forwarded call: decoding its arguments and data (the
//! convention is in `channel`'s `wire::opcode` module), checking every
//! number the LWK sent, and making the real system call.
//!
//! One function per call, in two families as in the personality: [`io`]
//! (calls on an open descriptor) and [`fs`] (calls on paths and the
//! working directory). Each has the shape
//! `fn(&mut Ctx, &Args) -> Result<u64, Errno>` and appends any bytes the
//! call returns (a `read` buffer, a `struct stat`) to `ctx.out`.

mod fs;
mod io;

use std::ffi::CStr;
use std::io::Write;

use channel::job::{ConsoleStream, JobExit};
use channel::wire::{MAX_ARGS, SLOT_DATA_SIZE};
use channel::{Errno, JobId, Opcode, Request};

use crate::confine::Root;
use crate::jobs::{Job, Jobs};
use crate::path;
use crate::sys;

/// What became of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Answer now with this result (and `ctx.out` as data).
    Done(Result<u64, Errno>),
    /// Not yet: the call would block (`F_SETLKW` on a held lock). The
    /// daemon keeps the request and serves it again later.
    Later,
}

/// A request's arguments and data, with checked accessors.
#[derive(Debug)]
pub struct Args<'d> {
    raw: [u64; MAX_ARGS],
    data: &'d [u8],
}

impl<'d> Args<'d> {
    pub fn new(raw: [u64; MAX_ARGS], data: &'d [u8]) -> Self {
        Self { raw, data }
    }

    /// Argument `i` as the system call sees it (a `u64` register).
    pub fn u64(&self, i: usize) -> u64 {
        self.raw[i]
    }

    /// Argument `i` as a C `int` (descriptors, flags, `whence`, `cmd`).
    pub fn int(&self, i: usize) -> i32 {
        self.raw[i] as u32 as i32
    }

    /// Argument `i` as a descriptor number (an `int`, so `AT_FDCWD` is -100).
    pub fn fd(&self, i: usize) -> i64 {
        self.int(i).into()
    }

    /// Argument `i` as a signed 64-bit value (`off_t`).
    pub fn i64(&self, i: usize) -> i64 {
        self.raw[i] as i64
    }

    /// A byte count for a call that returns data: at most one slot's worth
    /// (the caller splits larger transfers and gets a short count, which
    /// `read` and friends are allowed to return).
    pub fn out_len(&self, i: usize) -> usize {
        self.raw[i].min(SLOT_DATA_SIZE as u64) as usize
    }

    /// The NUL-terminated path at the data offset in argument `i`.
    pub fn path(&self, i: usize) -> Result<&'d CStr, Errno> {
        path::path_arg(self.data, self.raw[i])
    }

    /// As [`path`](Self::path), the empty path allowed.
    pub fn raw_path(&self, i: usize) -> Result<&'d CStr, Errno> {
        path::raw_path_arg(self.data, self.raw[i])
    }

    /// `len` bytes of data from the offset in argument `i` (EFAULT if they
    /// are not all in the request).
    pub fn bytes(&self, i: usize, len: u64) -> Result<&'d [u8], Errno> {
        let start = usize::try_from(self.raw[i]).map_err(|_| Errno::EFAULT)?;
        let len = usize::try_from(len).map_err(|_| Errno::EFAULT)?;
        let end = start.checked_add(len).ok_or(Errno::EFAULT)?;
        self.data.get(start..end).ok_or(Errno::EFAULT)
    }

    /// `count` native-endian `u64`s from the offset in argument `i`.
    pub fn u64s(&self, i: usize, count: u64) -> Result<Vec<u64>, Errno> {
        let bytes = self.bytes(i, count.checked_mul(8).ok_or(Errno::EINVAL)?)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("chunks of 8")))
            .collect())
    }
}

/// What a call works on.
pub struct Ctx<'a> {
    pub root: &'a Root,
    pub job: &'a mut Job,
    /// The answer's data.
    pub out: &'a mut Vec<u8>,
}

/// Serves `request`, whose data the caller copied into `data`; the answer's
/// data is appended to `out` (at most one slot's worth).
pub fn serve(jobs: &mut Jobs, request: &Request, data: &[u8], out: &mut Vec<u8>) -> Answer {
    let call = &request.call;
    let args = Args::new(call.args, data);
    match call.opcode {
        Opcode::JobExit => {
            let ended = JobExit::decode(request).map(|exit| (exit, jobs.end(call.job)));
            return Answer::Done(match ended {
                Ok((exit, _)) => {
                    println!(
                        "LWK-JOB-EXIT job={} status={}",
                        call.job.0,
                        exit.shell_status()
                    );
                    Ok(0)
                }
                Err(_) => Err(Errno::EINVAL),
            });
        }
        Opcode::ConsoleOutput => {
            let fd = match ConsoleStream::decode(request) {
                Ok(ConsoleStream::Stdout) => 1,
                Ok(ConsoleStream::Stderr) => 2,
                Err(_) => return Answer::Done(Err(Errno::EINVAL)),
            };
            let written = console_output(jobs, call.job, fd, data);
            return Answer::Done(written.map(|()| data.len() as u64));
        }
        _ => {}
    }
    if matches!(call.opcode, Opcode::Read | Opcode::Readv)
        && jobs
            .existing(call.job)
            .is_some_and(|job| io::would_block(job, args.fd(0)))
    {
        return Answer::Later;
    }
    let (root, job) = match jobs.job(call.job) {
        Ok(found) => found,
        Err(e) => return Answer::Done(Err(e)),
    };
    let mut ctx = Ctx { root, job, out };
    let handler: fn(&mut Ctx, &Args) -> Result<u64, Errno> = match call.opcode {
        Opcode::Read => io::read,
        Opcode::Write => io::write,
        Opcode::Close => io::close,
        Opcode::Fstat => io::fstat,
        Opcode::Lseek => io::lseek,
        Opcode::Pread64 => io::pread64,
        Opcode::Pwrite64 => io::pwrite64,
        Opcode::Readv => io::readv,
        Opcode::Writev => io::writev,
        Opcode::Fcntl => return io::fcntl(&mut ctx, &args),
        Opcode::Fsync => io::fsync,
        Opcode::Fdatasync => io::fdatasync,
        Opcode::Ftruncate => io::ftruncate,
        Opcode::Getdents64 => io::getdents64,
        Opcode::Getcwd => fs::getcwd,
        Opcode::Chdir => fs::chdir,
        Opcode::Openat => fs::openat,
        Opcode::Mkdirat => fs::mkdirat,
        Opcode::Newfstatat => fs::newfstatat,
        Opcode::Unlinkat => fs::unlinkat,
        Opcode::Renameat => fs::renameat,
        Opcode::Readlinkat => fs::readlinkat,
        Opcode::Faccessat => fs::faccessat,
        Opcode::Statx => fs::statx,
        Opcode::JobStart | Opcode::JobExit | Opcode::ConsoleOutput => {
            return Answer::Done(Err(Errno::ENOSYS))
        }
    };
    let result = handler(&mut ctx, &args);
    if result.is_err() {
        ctx.out.clear();
    }
    Answer::Done(result)
}

/// Writes `ConsoleOutput` text of `job` to its descriptor 1 or 2 if the job
/// exists and has it (a launched job: the relay to the host command), else
/// to the daemon's own output (the VM console).
fn console_output(jobs: &Jobs, job: JobId, fd: i64, text: &[u8]) -> Result<(), Errno> {
    if let Some(file) = jobs.existing(job).and_then(|j| j.file(fd).ok()) {
        let mut rest = text;
        while !rest.is_empty() {
            let n = sys::write(file, rest)?;
            rest = &rest[n..];
        }
        return Ok(());
    }
    let written = if fd == 1 {
        std::io::stdout().write_all(text)
    } else {
        std::io::stderr().write_all(text)
    };
    written.map_err(|_| Errno::EIO)
}

#[cfg(test)]
mod tests;
