//! Job-control messages: the payloads of `JobStart`, `JobExit` and
//! `ConsoleOutput`, encoded into and decoded from a request's arguments and
//! data without allocation.
//!
//! `JobStart` (Linux → LWK, control ring), `job` = the new job's id:
//!
//! | arg | meaning |
//! |---|---|
//! | 0 | `argc` |
//! | 1 | `envc` |
//! | 2 | cores: bit `n` = application node `n` |
//! | 3 | length of the exe path |
//!
//! data = `exe\0 argv[0]\0 … argv[argc-1]\0 envp[0]\0 … envp[envc-1]\0`, with
//! nothing after the last NUL. The answer is 0 (started) or a negated errno.
//!
//! `JobExit` (LWK → Linux, I/O ring): `args[0]` = 0 (exited) or 1 (killed by
//! a signal), `args[1]` = exit code or signal number, `args[2]` = faulting
//! address, `args[3]` = instruction pointer (signals only).
//!
//! `ConsoleOutput` (LWK → Linux, I/O ring): `args[0]` = 1 (stdout) or 2
//! (stderr), data = the text.

use core::fmt;

use crate::wire::{Call, JobId, Opcode, Request, MAX_ARGS};

/// Why a job-control message could not be built or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobError {
    /// The request is not the message being decoded.
    WrongOpcode(Opcode),
    /// A string to encode contains a NUL byte.
    EmbeddedNul,
    /// The encoding needs `needed` bytes and the buffer is shorter.
    TooLarge { needed: usize },
    /// The data does not hold exactly the strings the arguments announce.
    Malformed,
    /// `JobExit` or `ConsoleOutput` arguments outside their ranges.
    BadArgs,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongOpcode(op) => write!(f, "not a job message: {}", op.name()),
            Self::EmbeddedNul => write!(f, "string contains a NUL byte"),
            Self::TooLarge { needed } => write!(f, "job message needs {needed} bytes"),
            Self::Malformed => write!(f, "job start data does not match its counts"),
            Self::BadArgs => write!(f, "job message arguments out of range"),
        }
    }
}

impl core::error::Error for JobError {}

/// A job to start, as the daemon describes it.
#[derive(Clone, Copy, Debug)]
pub struct JobSpec<'s> {
    pub exe: &'s [u8],
    pub argv: &'s [&'s [u8]],
    pub envp: &'s [&'s [u8]],
    /// Bit `n` set: run on application node `n`.
    pub cores: u64,
}

impl JobSpec<'_> {
    fn strings(&self) -> impl Iterator<Item = &[u8]> {
        core::iter::once(self.exe)
            .chain(self.argv.iter().copied())
            .chain(self.envp.iter().copied())
    }

    /// Bytes of data the encoding takes.
    pub fn encoded_len(&self) -> usize {
        self.strings().map(|s| s.len() + 1).sum()
    }

    /// The `JobStart` call for job `job`.
    pub fn call(&self, job: JobId) -> Call {
        Call::new(job, Opcode::JobStart)
            .arg(0, self.argv.len() as u64)
            .arg(1, self.envp.len() as u64)
            .arg(2, self.cores)
            .arg(3, self.exe.len() as u64)
    }

    /// Writes the data into `buf`; returns its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, JobError> {
        let needed = self.encoded_len();
        if needed > buf.len() {
            return Err(JobError::TooLarge { needed });
        }
        let mut at = 0;
        for s in self.strings() {
            if s.contains(&0) {
                return Err(JobError::EmbeddedNul);
            }
            buf[at..at + s.len()].copy_from_slice(s);
            buf[at + s.len()] = 0;
            at += s.len() + 1;
        }
        Ok(at)
    }
}

/// A received `JobStart`, borrowing the data it was decoded from.
#[derive(Clone, Copy, Debug)]
pub struct JobStart<'b> {
    pub job: JobId,
    pub exe: &'b [u8],
    pub argv: Strings<'b>,
    pub envp: Strings<'b>,
    pub cores: u64,
}

impl<'b> JobStart<'b> {
    /// Decodes `request` whose data the caller copied into `data` (exactly
    /// the request's data, no more).
    pub fn decode(request: &Request, data: &'b [u8]) -> Result<Self, JobError> {
        let call = &request.call;
        if call.opcode != Opcode::JobStart {
            return Err(JobError::WrongOpcode(call.opcode));
        }
        if data.len() != request.data.len() as usize || data.last().is_some_and(|&b| b != 0) {
            return Err(JobError::Malformed);
        }
        let [argc, envc, cores, exe_len, ..] = call.args;
        // The count of NUL-terminated strings is bounded by the data length,
        // so no announced count can make us loop longer than that.
        let strings = data.iter().filter(|&&b| b == 0).count() as u64;
        if argc.checked_add(envc).and_then(|n| n.checked_add(1)) != Some(strings) {
            return Err(JobError::Malformed);
        }
        let exe_end = data
            .iter()
            .position(|&b| b == 0)
            .ok_or(JobError::Malformed)?;
        if exe_end == 0 || exe_end as u64 != exe_len {
            return Err(JobError::Malformed);
        }
        let rest = &data[exe_end + 1..];
        // Split after the argc-th NUL: argv before, envp after.
        // argc < strings <= data.len(), so the casts are lossless.
        let argv_len = match (argc as usize).checked_sub(1) {
            None => 0,
            Some(last) => {
                let nuls = rest.iter().enumerate().filter(|(_, &b)| b == 0);
                nuls.map(|(i, _)| i + 1)
                    .nth(last)
                    .ok_or(JobError::Malformed)?
            }
        };
        let (argv, envp) = rest.split_at(argv_len);
        Ok(Self {
            job: call.job,
            exe: &data[..exe_end],
            argv: Strings {
                bytes: argv,
                count: argc as usize,
            },
            envp: Strings {
                bytes: envp,
                count: envc as usize,
            },
            cores,
        })
    }
}

/// A run of NUL-terminated strings, validated to hold exactly `len()` of
/// them; iterates without the terminators.
#[derive(Clone, Copy, Debug)]
pub struct Strings<'b> {
    bytes: &'b [u8],
    count: usize,
}

impl<'b> Strings<'b> {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl<'b> Iterator for Strings<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        let end = self.bytes.iter().position(|&b| b == 0)?;
        let s = &self.bytes[..end];
        self.bytes = &self.bytes[end + 1..];
        self.count -= 1;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.count, Some(self.count))
    }
}

impl ExactSizeIterator for Strings<'_> {}

/// How a job ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobExit {
    /// `exit_group(code)`.
    Exited { code: i32 },
    /// Killed: by a fault (SIGSEGV, SIGILL, SIGFPE…) at `ip` touching
    /// `fault_addr`, or by a signal with both zero.
    Signaled {
        signal: u32,
        fault_addr: u64,
        ip: u64,
    },
}

/// The largest signal number Linux has (`_NSIG`).
const MAX_SIGNAL: u64 = 64;

impl JobExit {
    /// The `JobExit` call for job `job`.
    pub fn call(&self, job: JobId) -> Call {
        let args = match *self {
            JobExit::Exited { code } => [0, code as i64 as u64, 0, 0],
            JobExit::Signaled {
                signal,
                fault_addr,
                ip,
            } => [1, signal.into(), fault_addr, ip],
        };
        let mut call = Call::new(job, Opcode::JobExit);
        call.args[..4].copy_from_slice(&args);
        call
    }

    /// Reads a received `JobExit` request.
    pub fn decode(request: &Request) -> Result<Self, JobError> {
        let call = &request.call;
        if call.opcode != Opcode::JobExit {
            return Err(JobError::WrongOpcode(call.opcode));
        }
        let args: [u64; MAX_ARGS] = call.args;
        match args[0] {
            0 => {
                let code = i32::try_from(args[1] as i64).map_err(|_| JobError::BadArgs)?;
                Ok(JobExit::Exited { code })
            }
            1 if (1..=MAX_SIGNAL).contains(&args[1]) => Ok(JobExit::Signaled {
                signal: args[1] as u32,
                fault_addr: args[2],
                ip: args[3],
            }),
            _ => Err(JobError::BadArgs),
        }
    }

    /// The status a shell would report: the code, or 128 + signal.
    pub fn shell_status(&self) -> i32 {
        match *self {
            JobExit::Exited { code } => code & 0xff,
            JobExit::Signaled { signal, .. } => 128 + signal as i32,
        }
    }
}

/// Where `ConsoleOutput` text goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ConsoleStream {
    Stdout = 1,
    Stderr = 2,
}

impl ConsoleStream {
    /// The `ConsoleOutput` call; the text is the request's data.
    pub fn call(self, job: JobId) -> Call {
        Call::new(job, Opcode::ConsoleOutput).arg(0, self as u64)
    }

    /// Reads a received `ConsoleOutput` request's stream.
    pub fn decode(request: &Request) -> Result<Self, JobError> {
        match (request.call.opcode, request.call.args[0]) {
            (Opcode::ConsoleOutput, 1) => Ok(Self::Stdout),
            (Opcode::ConsoleOutput, 2) => Ok(Self::Stderr),
            (Opcode::ConsoleOutput, _) => Err(JobError::BadArgs),
            (other, _) => Err(JobError::WrongOpcode(other)),
        }
    }
}

#[cfg(test)]
#[path = "job/tests.rs"]
mod tests;
