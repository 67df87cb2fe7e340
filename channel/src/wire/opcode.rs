//! What a request asks for.
//!
//! Forwarded system calls use their Linux x86_64 system call number as the
//! opcode, so traces on both sides read as `strace` does and the daemon's
//! dispatch needs no second table. Job-control messages live above every
//! system call number, at `0x1000` and up.
//!
//! Argument convention for forwarded calls: `args` are the call's arguments in
//! order; a pointer argument to data the call *reads* (a path, a `write`
//! buffer, an iovec's contents) becomes a byte offset into the request's data;
//! a pointer to data the call *writes* (a `read` buffer, a `struct stat`)
//! becomes nothing, and the bytes come back as the response's data. Paths are
//! NUL-terminated. Vectored calls carry the concatenated contents, with the
//! iovec lengths as `u64`s at the start of the data (`args[2]` = count).
//! The daemon's reading of each call (which argument is an offset, what
//! comes back; `fcntl` locks carry a `struct flock` at the offset in
//! `args[2]`) is tabled in `docs/linux-vm.md`.

use super::RingId;

/// A forwarded system call or a job-control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Opcode {
    Read = 0,
    Write = 1,
    Close = 3,
    Fstat = 5,
    Lseek = 8,
    Pread64 = 17,
    Pwrite64 = 18,
    Readv = 19,
    Writev = 20,
    Fcntl = 72,
    Fsync = 74,
    Fdatasync = 75,
    Ftruncate = 77,
    Getcwd = 79,
    Chdir = 80,
    Getdents64 = 217,
    Openat = 257,
    Mkdirat = 258,
    Newfstatat = 262,
    Unlinkat = 263,
    Renameat = 264,
    Readlinkat = 267,
    Faccessat = 269,
    Statx = 332,

    /// Linux → LWK: start a job. Built and read by
    /// [`JobSpec`](crate::job::JobSpec); the job id is the request's.
    JobStart = 0x1000,
    /// LWK → Linux: the job ended. `args` from
    /// [`JobExit`](crate::job::JobExit).
    JobExit = 0x1001,
    /// LWK → Linux: text for the console, from the personality itself rather
    /// than from the job's stdout. `args[0]` is 1 (stdout) or 2 (stderr).
    ConsoleOutput = 0x1002,
}

/// A `u32` that names no [`Opcode`] (Hubris `abi` style: decoding is explicit
/// and fallible).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownOpcode(pub u32);

impl Opcode {
    /// Every opcode, in numeric order.
    pub const ALL: [Opcode; 27] = [
        Opcode::Read,
        Opcode::Write,
        Opcode::Close,
        Opcode::Fstat,
        Opcode::Lseek,
        Opcode::Pread64,
        Opcode::Pwrite64,
        Opcode::Readv,
        Opcode::Writev,
        Opcode::Fcntl,
        Opcode::Fsync,
        Opcode::Fdatasync,
        Opcode::Ftruncate,
        Opcode::Getcwd,
        Opcode::Chdir,
        Opcode::Getdents64,
        Opcode::Openat,
        Opcode::Mkdirat,
        Opcode::Newfstatat,
        Opcode::Unlinkat,
        Opcode::Renameat,
        Opcode::Readlinkat,
        Opcode::Faccessat,
        Opcode::Statx,
        Opcode::JobStart,
        Opcode::JobExit,
        Opcode::ConsoleOutput,
    ];

    /// The ring requests with this opcode travel on. A request found on the
    /// other ring is refused ([`WrongRing`](crate::ChannelError::WrongRing)).
    pub const fn ring(self) -> RingId {
        match self {
            Opcode::JobStart => RingId::ControlRequests,
            _ => RingId::IoRequests,
        }
    }

    /// The Linux name of the call, or the message name, for traces.
    pub const fn name(self) -> &'static str {
        match self {
            Opcode::Read => "read",
            Opcode::Write => "write",
            Opcode::Close => "close",
            Opcode::Fstat => "fstat",
            Opcode::Lseek => "lseek",
            Opcode::Pread64 => "pread64",
            Opcode::Pwrite64 => "pwrite64",
            Opcode::Readv => "readv",
            Opcode::Writev => "writev",
            Opcode::Fcntl => "fcntl",
            Opcode::Fsync => "fsync",
            Opcode::Fdatasync => "fdatasync",
            Opcode::Ftruncate => "ftruncate",
            Opcode::Getcwd => "getcwd",
            Opcode::Chdir => "chdir",
            Opcode::Getdents64 => "getdents64",
            Opcode::Openat => "openat",
            Opcode::Mkdirat => "mkdirat",
            Opcode::Newfstatat => "newfstatat",
            Opcode::Unlinkat => "unlinkat",
            Opcode::Renameat => "renameat",
            Opcode::Readlinkat => "readlinkat",
            Opcode::Faccessat => "faccessat",
            Opcode::Statx => "statx",
            Opcode::JobStart => "job_start",
            Opcode::JobExit => "job_exit",
            Opcode::ConsoleOutput => "console_output",
        }
    }

    /// The Linux x86_64 system call number, for forwarded calls.
    pub const fn syscall_number(self) -> Option<u32> {
        match self {
            Opcode::JobStart | Opcode::JobExit | Opcode::ConsoleOutput => None,
            other => Some(other as u32),
        }
    }
}

impl TryFrom<u32> for Opcode {
    type Error = UnknownOpcode;

    fn try_from(x: u32) -> Result<Self, UnknownOpcode> {
        Ok(match x {
            0 => Opcode::Read,
            1 => Opcode::Write,
            3 => Opcode::Close,
            5 => Opcode::Fstat,
            8 => Opcode::Lseek,
            17 => Opcode::Pread64,
            18 => Opcode::Pwrite64,
            19 => Opcode::Readv,
            20 => Opcode::Writev,
            72 => Opcode::Fcntl,
            74 => Opcode::Fsync,
            75 => Opcode::Fdatasync,
            77 => Opcode::Ftruncate,
            79 => Opcode::Getcwd,
            80 => Opcode::Chdir,
            217 => Opcode::Getdents64,
            257 => Opcode::Openat,
            258 => Opcode::Mkdirat,
            262 => Opcode::Newfstatat,
            263 => Opcode::Unlinkat,
            264 => Opcode::Renameat,
            267 => Opcode::Readlinkat,
            269 => Opcode::Faccessat,
            332 => Opcode::Statx,
            0x1000 => Opcode::JobStart,
            0x1001 => Opcode::JobExit,
            0x1002 => Opcode::ConsoleOutput,
            _ => return Err(UnknownOpcode(x)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_round_trips_and_all_is_complete() {
        let mut known = 0;
        for x in 0..0x2000u32 {
            if let Ok(op) = Opcode::try_from(x) {
                assert_eq!(op as u32, x);
                assert_eq!(Opcode::ALL[known], op, "ALL out of order at {x}");
                known += 1;
            }
        }
        assert_eq!(known, Opcode::ALL.len());
        assert_eq!(Opcode::try_from(u32::MAX), Err(UnknownOpcode(u32::MAX)));
    }

    #[test]
    fn names_are_unique_and_only_job_start_is_control() {
        for (i, a) in Opcode::ALL.iter().enumerate() {
            for b in &Opcode::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
            assert_eq!(a.ring() == RingId::ControlRequests, *a == Opcode::JobStart);
        }
        assert_eq!(Opcode::Openat.syscall_number(), Some(257));
        assert_eq!(Opcode::JobExit.syscall_number(), None);
    }
}
