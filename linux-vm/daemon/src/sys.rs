//! Thin wrappers over the Linux system calls the daemon makes: the only
//! module with `unsafe` code. Each wrapper takes owned or borrowed file
//! descriptors and byte buffers, and returns the call's value or its
//! [`Errno`], exactly as the forwarded call will report it.
//!
//! Structures the kernel fills (`struct stat`, `struct statx`,
//! `struct flock`) travel as their raw bytes: the LWK side hands them to an
//! x86_64 Linux program that expects exactly that layout.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use channel::Errno;

/// `Result` of a system call.
pub type SysResult<T> = Result<T, Errno>;

/// The calling thread's errno as an [`Errno`] (EIO if it is not one).
fn last_errno() -> Errno {
    let raw = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    Errno::try_from(raw as u32).unwrap_or(Errno::EIO)
}

/// A `-1`-on-error return value as a result.
fn check(ret: i64) -> SysResult<u64> {
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret as u64)
    }
}

/// Bytes of `struct stat` on x86_64.
pub const STAT_SIZE: usize = std::mem::size_of::<libc::stat>();
/// Bytes of `struct statx`.
pub const STATX_SIZE: usize = std::mem::size_of::<libc::statx>();
/// Bytes of `struct flock` on x86_64.
pub const FLOCK_SIZE: usize = std::mem::size_of::<libc::flock>();

const _: () = assert!(STAT_SIZE == 144 && STATX_SIZE == 256 && FLOCK_SIZE == 32);

/// `struct open_how` for openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2): opens `path` relative to `dir` with the `resolve` rules.
pub fn openat2(
    dir: BorrowedFd,
    path: &CStr,
    flags: u64,
    mode: u64,
    resolve: u64,
) -> SysResult<OwnedFd> {
    let how = OpenHow {
        flags: flags | libc::O_CLOEXEC as u64,
        mode,
        resolve,
    };
    // SAFETY: `path` is NUL-terminated, `how` is a valid open_how of the
    // size passed; the kernel only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = check(ret)?;
    // SAFETY: the kernel just returned this descriptor to us; nobody else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// open(2) of an absolute host path (the share root, sysfs files).
pub fn open(path: &CStr, flags: i32) -> SysResult<OwnedFd> {
    // SAFETY: `path` is NUL-terminated.
    let fd = check(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) }.into())?;
    // SAFETY: a fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A new descriptor for the same open file (F_DUPFD_CLOEXEC).
pub fn dup(fd: BorrowedFd) -> SysResult<OwnedFd> {
    // SAFETY: fcntl with F_DUPFD_CLOEXEC takes an int argument only.
    let new = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) }.into())?;
    // SAFETY: a fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
}

pub fn read(fd: BorrowedFd, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    check(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } as i64)
        .map(|n| n as usize)
}

pub fn write(fd: BorrowedFd, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for reads of its length.
    check(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) } as i64)
        .map(|n| n as usize)
}

pub fn pread(fd: BorrowedFd, buf: &mut [u8], offset: i64) -> SysResult<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    check(
        unsafe { libc::pread64(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), offset) } as i64,
    )
    .map(|n| n as usize)
}

pub fn pwrite(fd: BorrowedFd, buf: &[u8], offset: i64) -> SysResult<usize> {
    // SAFETY: `buf` is valid for reads of its length.
    check(unsafe { libc::pwrite64(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), offset) } as i64)
        .map(|n| n as usize)
}

pub fn lseek(fd: BorrowedFd, offset: i64, whence: i32) -> SysResult<u64> {
    // SAFETY: no pointers involved.
    check(unsafe { libc::lseek64(fd.as_raw_fd(), offset, whence) })
}

pub fn fsync(fd: BorrowedFd) -> SysResult<u64> {
    // SAFETY: no pointers involved.
    check(unsafe { libc::fsync(fd.as_raw_fd()) }.into())
}

pub fn fdatasync(fd: BorrowedFd) -> SysResult<u64> {
    // SAFETY: no pointers involved.
    check(unsafe { libc::fdatasync(fd.as_raw_fd()) }.into())
}

pub fn ftruncate(fd: BorrowedFd, len: i64) -> SysResult<u64> {
    // SAFETY: no pointers involved.
    check(unsafe { libc::ftruncate64(fd.as_raw_fd(), len) }.into())
}

/// getdents64(2): raw `linux_dirent64` records into `buf`.
pub fn getdents64(fd: BorrowedFd, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    check(ret).map(|n| n as usize)
}

/// fstatat(2) with `flags`; the raw `struct stat`.
pub fn fstatat(dir: BorrowedFd, path: &CStr, flags: i32) -> SysResult<[u8; STAT_SIZE]> {
    let mut out = [0u8; STAT_SIZE];
    // SAFETY: `out` has the size and (byte) layout of struct stat; the
    // kernel writes exactly that many bytes; alignment of the pointer is
    // not required by the system call.
    check(unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            dir.as_raw_fd(),
            path.as_ptr(),
            out.as_mut_ptr(),
            flags,
        )
    })?;
    Ok(out)
}

/// statx(2); the raw `struct statx`.
pub fn statx(dir: BorrowedFd, path: &CStr, flags: i32, mask: u32) -> SysResult<[u8; STATX_SIZE]> {
    let mut out = [0u8; STATX_SIZE];
    // SAFETY: as for fstatat, with struct statx.
    check(unsafe {
        libc::syscall(
            libc::SYS_statx,
            dir.as_raw_fd(),
            path.as_ptr(),
            flags,
            mask,
            out.as_mut_ptr(),
        )
    })?;
    Ok(out)
}

pub fn mkdirat(dir: BorrowedFd, name: &CStr, mode: u32) -> SysResult<u64> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }.into())
}

pub fn unlinkat(dir: BorrowedFd, name: &CStr, flags: i32) -> SysResult<u64> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }.into())
}

pub fn renameat(
    old_dir: BorrowedFd,
    old: &CStr,
    new_dir: BorrowedFd,
    new: &CStr,
) -> SysResult<u64> {
    // SAFETY: both names are NUL-terminated.
    check(
        unsafe {
            libc::renameat(
                old_dir.as_raw_fd(),
                old.as_ptr(),
                new_dir.as_raw_fd(),
                new.as_ptr(),
            )
        }
        .into(),
    )
}

pub fn readlinkat(dir: BorrowedFd, name: &CStr, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `name` is NUL-terminated, `buf` valid for writes of its length.
    check(unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    } as i64)
    .map(|n| n as usize)
}

/// faccessat2(2) (flags honoured, unlike the glibc-less faccessat).
pub fn faccessat2(dir: BorrowedFd, path: &CStr, mode: i32, flags: i32) -> SysResult<u64> {
    // SAFETY: `path` is NUL-terminated.
    check(unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            mode,
            flags,
        )
    })
}

/// fcntl(2) with an integer argument (F_GETFL, F_SETFL).
pub fn fcntl_int(fd: BorrowedFd, cmd: i32, arg: i64) -> SysResult<u64> {
    // SAFETY: the commands used with this wrapper take an integer argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), cmd, arg) }.into())
}

/// fcntl(2) with a `struct flock` argument (the OFD lock commands), in and
/// out as raw bytes.
pub fn fcntl_lock(fd: BorrowedFd, cmd: i32, lock: &mut [u8; FLOCK_SIZE]) -> SysResult<u64> {
    // SAFETY: `lock` has the size of struct flock; fcntl reads and (for
    // F_OFD_GETLK) writes exactly that.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), cmd, lock.as_mut_ptr()) }.into())
}

/// pipe2(2) with `O_CLOEXEC`: `(read end, write end)`.
pub fn pipe() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }.into())?;
    // SAFETY: two fresh descriptors from the kernel, owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// poll(2) on one descriptor for `events`, waiting up to `timeout_ms`
/// (0: just look); the returned events (0 if none yet).
pub fn poll1(fd: BorrowedFd, events: i16, timeout_ms: i32) -> SysResult<i16> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    check(unsafe { libc::poll(&mut p, 1, timeout_ms) }.into())?;
    Ok(p.revents)
}

/// poll(2) on several descriptors; their returned events, in order.
pub fn poll(fds: &[(BorrowedFd, i16)], timeout_ms: i32) -> SysResult<Vec<i16>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, events)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: *events,
            revents: 0,
        })
        .collect();
    // SAFETY: `p` holds `p.len()` valid pollfds.
    check(unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) }.into())?;
    Ok(p.iter().map(|p| p.revents).collect())
}

/// Kills this process with SIGKILL at once (the launch channel's
/// `KillDaemon`, for the restart test): no cleanup, as a crash.
pub fn kill_self() -> ! {
    // SAFETY: signals this process; it does not return.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}

/// A shared, writable mapping of a file (the ivshmem BAR), unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    base: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `fd` from offset 0, shared and writable.
    pub fn shared(fd: BorrowedFd, len: usize) -> SysResult<Mapping> {
        // SAFETY: a fresh mapping chosen by the kernel; no existing memory is
        // affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(last_errno());
        }
        Ok(Mapping {
            base: base.cast(),
            len,
        })
    }

    /// The channel region over this mapping.
    pub fn region(&self) -> Result<channel::Region<'_>, channel::ChannelError> {
        // SAFETY: the mapping is readable and writable for `len` bytes as long
        // as `self` lives (the region borrows it); it is shared memory that
        // this process touches only through the channel crate.
        unsafe { channel::Region::new(self.base, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `shared` mapped; regions borrowing it
        // are gone (they borrow `self`).
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
