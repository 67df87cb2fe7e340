//! Function shipping: the pieces every forwarded call is made of.
//!
//! A shipped call is the Linux call with pointer arguments turned into
//! offsets into the request's data (the wire convention is the daemon's,
//! tabled in `docs/linux-vm.md`), sent through [`Process::ship`], which
//! moves it over the shared buffer and waits (bounded) for the answer. The
//! program's descriptor numbers are translated through the job's
//! [`FdTable`](crate::fd::FdTable) into the daemon's before they leave.

use super::args::UserAddr;
use super::errno::Errno;
use super::process::Process;
use super::read_path;
use crate::fd::Target;
use alloc::vec::Vec;
pub use channel::Opcode;

/// Most data one request or answer carries (one slot's data area).
pub const CHUNK: usize = channel::wire::SLOT_DATA_SIZE;
/// `AT_FDCWD`: relative to the working directory.
pub const AT_FDCWD: i32 = -100;

/// One call to ship.
#[derive(Clone, Copy, Debug)]
pub struct Shipped<'a> {
    /// The call (Linux's number for file calls).
    pub op: Opcode,
    /// Arguments, pointers already turned into data offsets.
    pub args: [u64; 6],
    /// Data the call reads (paths, bytes to write, `struct flock`...).
    pub data: &'a [u8],
}

impl<'a> Shipped<'a> {
    /// A call with its arguments and data.
    pub fn new(op: Opcode, args: [u64; 6], data: &'a [u8]) -> Self {
        Shipped { op, args, data }
    }
}

/// The daemon's descriptor behind the program's `fd`: `EBADF` if not
/// open, `err` if it is a console stream (which the daemon does not have).
pub fn remote_fd(p: &mut dyn Process, fd: i32, err: Errno) -> Result<i32, Errno> {
    match p.fds().get(fd)? {
        Target::Remote { fd, .. } => Ok(fd),
        Target::Console(_) => Err(err),
    }
}

/// A directory argument as the daemon takes it: `AT_FDCWD` as is, else the
/// daemon's descriptor (`ENOTDIR` for a console stream).
pub fn remote_dirfd(p: &mut dyn Process, dirfd: i32) -> Result<u64, Errno> {
    if dirfd == AT_FDCWD {
        return Ok(AT_FDCWD as i64 as u64);
    }
    Ok(remote_fd(p, dirfd, Errno::ENOTDIR)? as i64 as u64)
}

/// The path at `addr`, NUL-terminated, as request data.
pub fn path_data(p: &mut dyn Process, addr: UserAddr) -> Result<Vec<u8>, Errno> {
    let mut path = read_path(p, addr)?;
    path.push(0);
    Ok(path)
}

/// Ships a call whose answer carries no data; returns its result.
pub fn call(p: &mut dyn Process, op: Opcode, args: [u64; 6], data: &[u8]) -> Result<u64, Errno> {
    p.ship(Shipped::new(op, args, data), &mut [])
        .map(|(r, _)| r)
}

/// Ships a call whose answer carries up to `max` bytes; returns the result
/// and the bytes.
pub fn call_reading(
    p: &mut dyn Process,
    op: Opcode,
    args: [u64; 6],
    data: &[u8],
    max: usize,
) -> Result<(u64, Vec<u8>), Errno> {
    let mut reply = alloc::vec![0u8; max.min(CHUNK)];
    let (r, n) = p.ship(Shipped::new(op, args, data), &mut reply)?;
    reply.truncate(n.min(reply.len()));
    Ok((r, reply))
}
