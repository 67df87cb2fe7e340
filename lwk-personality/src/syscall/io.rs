//! The console streams (standalone mode), their terminal ioctls, and
//! `poll`.
//!
//! In standalone mode descriptors 0–2 are the job's console: the seL4 side
//! carries the bytes to the launching command ([`Process::console_write`],
//! [`Process::console_read`]). `files.rs` routes a descriptor here when
//! the job's table says it is a console stream. Bytes pass through a
//! bounded buffer, so a large write is several console writes; a short one
//! ends the call, and the application sees a partial write, as from a pipe.

use super::args::{Args, UserAddr};
use super::errno::Errno;
use super::process::Process;
use super::{read_words, SysResult};
use crate::fd::Target;
use alloc::vec;
use alloc::vec::Vec;

/// Linux caps one read or write at this (`MAX_RW_COUNT`).
const MAX_RW_COUNT: usize = 0x7fff_f000;
/// Bytes copied per console call.
const CHUNK: usize = 64 << 10;
/// Most iovecs per call (`UIO_MAXIOV`).
const IOV_MAX: i32 = 1024;

/// `TCGETS`: read the terminal's `struct termios`.
const TCGETS: u32 = 0x5401;
/// `TIOCGWINSZ`: read the terminal's window size.
const TIOCGWINSZ: u32 = 0x5413;

/// The kernel's `struct termios` (36 bytes on x86_64) of a fresh
/// pseudo-terminal, which the Linux side's job terminal is: `ICRNL|IXON`,
/// `OPOST|ONLCR`, `B38400|CS8|CREAD`, canonical mode with echo, and the
/// default control characters (^C, ^\, DEL, ^U, ^D, …). The tests compare it
/// with the host kernel's.
pub const TERMIOS: [u8; 36] = {
    let mut t = [0u8; 36];
    let flags: [u32; 4] = [0x0500, 0x0005, 0x00bf, 0x8a3b];
    let mut i = 0;
    while i < 4 {
        let b = flags[i].to_le_bytes();
        t[4 * i] = b[0];
        t[4 * i + 1] = b[1];
        t[4 * i + 2] = b[2];
        t[4 * i + 3] = b[3];
        i += 1;
    }
    // c_line stays 0; c_cc follows.
    let cc = *b"\x03\x1c\x7f\x15\x04\x00\x01\x00\x11\x13\x1a\x00\x12\x0f\x17\x16\x00";
    let mut j = 0;
    while j < cc.len() {
        t[17 + j] = cc[j];
        j += 1;
    }
    t
};

/// `struct winsize` reported for a terminal: 24 rows of 80 columns, the
/// classic default (the Linux side does not forward the real size yet).
pub const WINSIZE: [u16; 4] = [24, 80, 0, 0];

/// What a call that moved `done` bytes before meeting `err` returns: the
/// bytes if any, else the error (Linux's rule for partial transfers).
pub(super) fn partial(done: usize, err: Errno) -> Result<usize, Errno> {
    if done > 0 {
        Ok(done)
    } else {
        Err(err)
    }
}

/// Copies into `buf` page by page from `at` and returns how many bytes
/// were readable: a buffer that runs into unmapped memory is written up to
/// the fault, as Linux does.
fn readable_prefix(p: &mut dyn Process, at: UserAddr, buf: &mut [u8]) -> usize {
    const PAGE: u64 = 4096;
    let mut done = 0;
    while done < buf.len() {
        let Some(here) = at.offset(done as u64) else {
            break;
        };
        let n = ((PAGE - here.0 % PAGE) as usize).min(buf.len() - done);
        if p.copy_in(here, &mut buf[done..done + n]).is_err() {
            break;
        }
        done += n;
    }
    done
}

/// Writes `len` bytes from `buf` to console `fd`; stops at the first short
/// write or fault.
pub(super) fn write_from(
    p: &mut dyn Process,
    fd: i32,
    buf: UserAddr,
    len: usize,
) -> Result<usize, Errno> {
    let mut chunk = vec![0u8; len.min(CHUNK)];
    let mut done = 0;
    while done < len {
        let mut n = (len - done).min(CHUNK);
        let at = buf.offset(done as u64).ok_or(Errno::EFAULT)?;
        let mut fault = None;
        if let Err(e) = p.copy_in(at, &mut chunk[..n]) {
            n = readable_prefix(p, at, &mut chunk[..n]);
            fault = Some(e);
            if n == 0 {
                return partial(done, e);
            }
        }
        let written = match p.console_write(fd, &chunk[..n]) {
            Ok(w) => w.min(n),
            Err(e) => return partial(done, e),
        };
        done += written;
        if let Some(e) = fault {
            return partial(done, e);
        }
        if written < n {
            break;
        }
    }
    Ok(done)
}

/// One console read of up to `len` bytes (at most a chunk) into `buf`.
pub(super) fn read_into(
    p: &mut dyn Process,
    fd: i32,
    buf: UserAddr,
    len: usize,
) -> Result<usize, Errno> {
    let mut chunk = vec![0u8; len.min(CHUNK)];
    let n = p.console_read(fd, &mut chunk)?.min(chunk.len());
    p.copy_out(buf, &chunk[..n])?;
    Ok(n)
}

/// Reads and checks an iovec array: `EINVAL` for a bad count or a length
/// beyond `ssize_t`; the total is capped at `MAX_RW_COUNT` as Linux does.
pub(super) fn iovecs(
    p: &mut dyn Process,
    at: UserAddr,
    count: i32,
) -> Result<Vec<(UserAddr, usize)>, Errno> {
    if !(0..=IOV_MAX).contains(&count) {
        return Err(Errno::EINVAL);
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut budget = MAX_RW_COUNT;
    for i in 0..count as u64 {
        let [base, len] = read_words::<2>(p, at.offset(16 * i).ok_or(Errno::EFAULT)?)?;
        if len > isize::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        let len = (len as usize).min(budget);
        budget -= len;
        out.push((UserAddr(base), len));
    }
    Ok(out)
}

/// `ioctl(2)` on console stream `fd`: `TCGETS` and `TIOCGWINSZ` on a
/// terminal, `ENOTTY` for everything else (as a terminal answers an
/// unknown request, and as anything else answers these).
pub(super) fn console_ioctl(p: &mut dyn Process, fd: i32, args: Args) -> SysResult {
    if !p.is_terminal(fd) {
        return Err(Errno::ENOTTY.into());
    }
    match args.uint(1) {
        TCGETS => p.copy_out(args.ptr(2), &TERMIOS)?,
        TIOCGWINSZ => {
            let bytes: Vec<u8> = WINSIZE.iter().flat_map(|v| v.to_le_bytes()).collect();
            p.copy_out(args.ptr(2), &bytes)?
        }
        _ => return Err(Errno::ENOTTY.into()),
    }
    Ok(0)
}

/// `fcntl` commands understood on the standard descriptors.
const F_GETFL: u32 = 3;
const F_SETFL: u32 = 4;
/// `O_RDONLY`, `O_WRONLY`, `O_RDWR`.
const O_RDONLY: u64 = 0;
const O_WRONLY: u64 = 1;
const O_RDWR: u64 = 2;

/// `fcntl(2)` status flags on console stream `fd`: `F_GETFL` reports the access mode (a terminal is read-write, as a shell
/// opens one; otherwise stdin reads and stdout/stderr write), `F_SETFL`
/// accepts and ignores the status flags (the console never blocks the
/// caller's core beyond the transfer); anything else `EINVAL` (the
/// descriptor-table commands are `files.rs`'s).
pub(super) fn console_fcntl(p: &mut dyn Process, fd: i32, cmd: u32) -> SysResult {
    match cmd {
        F_GETFL if p.is_terminal(fd) => Ok(O_RDWR),
        F_GETFL if fd == 0 => Ok(O_RDONLY),
        F_GETFL => Ok(O_WRONLY),
        F_SETFL => Ok(0),
        _ => Err(Errno::EINVAL.into()),
    }
}

/// `S_IFCHR` and `S_IFIFO`.
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;
/// `AT_EMPTY_PATH`.
/// `sizeof(struct stat)` on x86_64.
const STAT_SIZE: usize = 144;

/// `struct stat` of a standard descriptor: a terminal is a character
/// device (`/dev/pts/0`: major 136), anything else a pipe, which is what
/// the launching command's redirections look like to the program.
pub(super) fn console_stat(p: &mut dyn Process, fd: i32) -> [u8; STAT_SIZE] {
    let mut st = [0u8; STAT_SIZE];
    let tty = p.is_terminal(fd);
    let mode = if tty {
        S_IFCHR | 0o620
    } else {
        S_IFIFO | 0o600
    };
    st[8..16].copy_from_slice(&(fd as u64 + 1).to_le_bytes()); // st_ino
    st[16..24].copy_from_slice(&1u64.to_le_bytes()); // st_nlink
    st[24..28].copy_from_slice(&mode.to_le_bytes());
    if tty {
        st[40..48].copy_from_slice(&(136u64 << 8).to_le_bytes()); // st_rdev
    }
    st[56..64].copy_from_slice(&4096i64.to_le_bytes()); // st_blksize
    st
}

/// `POLLIN`, `POLLOUT`, `POLLNVAL`.
const POLLIN: u16 = 0x1;
const POLLOUT: u16 = 0x4;
const POLLNVAL: u16 = 0x20;

/// Implements Linux `poll(2)`; local. stdout and stderr are always
/// writable; stdin is reported readable (a read then waits for the
/// launcher's data); a file is ready both ways, as on Linux; a descriptor
/// that is not open is `POLLNVAL`, which is what a runtime probing whether
/// 0–2 are open (Rust's std does) needs. Nothing ever waits, so the
/// timeout is not used.
pub fn poll(p: &mut dyn Process, args: Args) -> SysResult {
    let (addr, n) = (args.ptr(0), args.raw(1));
    if n > 1024 {
        return Err(Errno::EINVAL.into());
    }
    let mut ready = 0;
    for i in 0..n {
        let at = addr.offset(i * 8).ok_or(Errno::EFAULT)?;
        let mut pfd = [0u8; 8];
        p.copy_in(at, &mut pfd)?;
        let fd = i32::from_le_bytes([pfd[0], pfd[1], pfd[2], pfd[3]]);
        let events = u16::from_le_bytes([pfd[4], pfd[5]]);
        let revents = match p.fds().get(fd) {
            _ if fd < 0 => 0,
            Ok(Target::Console(0))
            | Ok(Target::Remote {
                fd: 0,
                opened: false,
            }) => events & POLLIN,
            Ok(Target::Console(_)) | Ok(Target::Remote { opened: false, .. }) => events & POLLOUT,
            // A file is always ready, as on Linux.
            Ok(Target::Remote { opened: true, .. }) => events & (POLLIN | POLLOUT),
            Err(_) => POLLNVAL,
        };
        if revents != 0 {
            ready += 1;
        }
        let at_revents = at.offset(6).ok_or(Errno::EFAULT)?;
        p.copy_out(at_revents, &revents.to_le_bytes())?;
    }
    Ok(ready)
}
