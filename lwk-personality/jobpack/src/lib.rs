//! The job pack: the programs a standalone boot runs, one after another,
//! with their argv and envp.
//!
//! `cargo xtask run --standalone` encodes it and gives it to QEMU as the
//! fw_cfg file [`FW_CFG_NAME`]; the personality reads it at boot (fw_cfg DMA
//! into pool memory) and decodes it here. Until the Linux VM serves files,
//! this is how programs reach the LWK without rebuilding the boot image.
//!
//! Layout (little endian, every record 8-byte aligned):
//!
//! ```text
//! header:  magic "LWKJOBS1" | count u32 | reserved u32 | realtime_ns u64
//! job:     record_len u32 | flags u32 | path_len u32 | argc u32 | envc u32 | exe_len u32
//!          path bytes | argv (NUL-terminated each) | envp (NUL-terminated each)
//!          | pad to 8 | exe bytes | pad to 8
//! ```
//!
//! The decoder trusts nothing: every length is checked against the pack.

#![cfg_attr(not(test), no_std)]

#[cfg(any(test, feature = "alloc"))]
extern crate alloc;

/// The fw_cfg file name QEMU is given (`-fw_cfg name=...,file=...`).
pub const FW_CFG_NAME: &str = "opt/lwk/jobs";
pub const MAGIC: &[u8; 8] = b"LWKJOBS1";
const HEADER: usize = 24;
const JOB_HEADER: usize = 24;

/// Job flags.
pub mod flags {
    /// fd 0 is a terminal for the program.
    pub const STDIN_TTY: u32 = 1;
    /// fd 1 is a terminal.
    pub const STDOUT_TTY: u32 = 2;
    /// fd 2 is a terminal.
    pub const STDERR_TTY: u32 = 4;
}

/// Why a pack is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackError {
    BadMagic,
    Truncated {
        at: usize,
    },
    /// A record's lengths do not add up.
    BadRecord {
        job: usize,
    },
    /// argv/envp strings are not NUL-terminated within their area.
    BadStrings {
        job: usize,
    },
}

impl core::fmt::Display for PackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PackError::BadMagic => write!(f, "job pack: bad magic"),
            PackError::Truncated { at } => write!(f, "job pack: truncated at byte {at}"),
            PackError::BadRecord { job } => {
                write!(f, "job pack: job {job} has inconsistent lengths")
            }
            PackError::BadStrings { job } => {
                write!(f, "job pack: job {job} has malformed argv/envp")
            }
        }
    }
}

/// One job, borrowing from the pack.
#[derive(Debug, Clone, Copy)]
pub struct Job<'p> {
    pub flags: u32,
    /// The executable's path (for AT_EXECFN, /proc/self/exe, reports).
    pub path: &'p [u8],
    argv: &'p [u8],
    argc: usize,
    envp: &'p [u8],
    envc: usize,
    pub exe: &'p [u8],
}

impl<'p> Job<'p> {
    /// argv strings (without their NULs).
    pub fn argv(&self) -> impl Iterator<Item = &'p [u8]> + 'p {
        let b = self.argv;
        b.split(|&c| c == 0).take(self.argc)
    }
    /// envp strings.
    pub fn envp(&self) -> impl Iterator<Item = &'p [u8]> + 'p {
        let b = self.envp;
        b.split(|&c| c == 0).take(self.envc)
    }
    pub fn argc(&self) -> usize {
        self.argc
    }
    pub fn envc(&self) -> usize {
        self.envc
    }
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, PackError> {
    let s = b.get(at..at + 4).ok_or(PackError::Truncated { at })?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

const fn pad8(n: usize) -> usize {
    (n + 7) & !7
}

/// Number of jobs in a pack (after checking its header).
pub fn count(pack: &[u8]) -> Result<usize, PackError> {
    if pack.len() < HEADER || &pack[..8] != MAGIC {
        return Err(PackError::BadMagic);
    }
    Ok(u32_at(pack, 8)? as usize)
}

/// The host's `CLOCK_REALTIME` (ns) when the pack was made: the LWK has no
/// battery clock of its own to read, so this seeds its `CLOCK_REALTIME`
/// (off by the boot time, a few seconds).
pub fn realtime_ns(pack: &[u8]) -> Result<u64, PackError> {
    count(pack)?;
    let b = pack.get(16..24).ok_or(PackError::Truncated { at: 16 })?;
    let mut w = [0u8; 8];
    w.copy_from_slice(b);
    Ok(u64::from_le_bytes(w))
}

/// Iterates over the jobs; stops at the first malformed record with its
/// error.
pub fn jobs(pack: &[u8]) -> impl Iterator<Item = Result<Job<'_>, PackError>> + '_ {
    let n = count(pack);
    let mut pos = HEADER;
    let mut i = 0;
    let mut failed = false;
    core::iter::from_fn(move || {
        let n = match n {
            Ok(n) => n,
            Err(e) if !failed => {
                failed = true;
                return Some(Err(e));
            }
            Err(_) => return None,
        };
        if failed || i >= n {
            return None;
        }
        let r = decode_job(pack, pos, i);
        match r {
            Ok((job, next)) => {
                pos = next;
                i += 1;
                Some(Ok(job))
            }
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
        }
    })
}

fn decode_job(pack: &[u8], pos: usize, job: usize) -> Result<(Job<'_>, usize), PackError> {
    let record_len = u32_at(pack, pos)? as usize;
    let flags = u32_at(pack, pos + 4)?;
    let path_len = u32_at(pack, pos + 8)? as usize;
    let argc = u32_at(pack, pos + 12)? as usize;
    let envc = u32_at(pack, pos + 16)? as usize;
    let exe_len = u32_at(pack, pos + 20)? as usize;
    let end = pos
        .checked_add(record_len)
        .ok_or(PackError::BadRecord { job })?;
    if end > pack.len() || !record_len.is_multiple_of(8) {
        return Err(PackError::Truncated {
            at: pack.len().min(end),
        });
    }
    let body = &pack[pos + JOB_HEADER..end];
    let path = body.get(..path_len).ok_or(PackError::BadRecord { job })?;
    let strings = &body[path_len..];
    // argv then envp: count NULs.
    let mut nuls = 0;
    let mut strings_len = 0;
    for (k, &c) in strings.iter().enumerate() {
        if nuls == argc + envc {
            break;
        }
        if c == 0 {
            nuls += 1;
        }
        strings_len = k + 1;
    }
    if nuls != argc + envc {
        return Err(PackError::BadStrings { job });
    }
    let argv_len = strings[..strings_len]
        .split_inclusive(|&c| c == 0)
        .take(argc)
        .map(<[u8]>::len)
        .sum::<usize>();
    let exe_at = pad8(path_len + strings_len);
    let exe = body
        .get(exe_at..exe_at + exe_len)
        .ok_or(PackError::BadRecord { job })?;
    if JOB_HEADER + pad8(exe_at + exe_len) != record_len {
        return Err(PackError::BadRecord { job });
    }
    let j = Job {
        flags,
        path,
        argv: &strings[..argv_len],
        argc,
        envp: &strings[argv_len..strings_len],
        envc,
        exe,
    };
    Ok((j, end))
}

/// A job to encode.
#[cfg(any(test, feature = "alloc"))]
pub struct JobSpec<'a> {
    pub flags: u32,
    pub path: &'a [u8],
    pub argv: &'a [&'a [u8]],
    pub envp: &'a [&'a [u8]],
    pub exe: &'a [u8],
}

/// Encodes a pack. Strings must not contain NUL.
#[cfg(any(test, feature = "alloc"))]
pub fn encode(jobs: &[JobSpec], realtime_ns: u64) -> alloc::vec::Vec<u8> {
    let mut out = alloc::vec::Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(jobs.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&realtime_ns.to_le_bytes());
    for j in jobs {
        let strings: usize = j.argv.iter().chain(j.envp).map(|s| s.len() + 1).sum();
        let exe_at = pad8(j.path.len() + strings);
        let record_len = JOB_HEADER + pad8(exe_at + j.exe.len());
        for v in [
            record_len,
            j.flags as usize,
            j.path.len(),
            j.argv.len(),
            j.envp.len(),
            j.exe.len(),
        ] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        let body_start = out.len();
        out.extend_from_slice(j.path);
        for s in j.argv.iter().chain(j.envp) {
            out.extend_from_slice(s);
            out.push(0);
        }
        out.resize(body_start + exe_at, 0);
        out.extend_from_slice(j.exe);
        out.resize(body_start + record_len - JOB_HEADER, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        encode(
            &[
                JobSpec {
                    flags: 3,
                    path: b"/bin/echo",
                    argv: &[b"echo", b"hi there"],
                    envp: &[b"A=1"],
                    exe: b"\x7fELF....",
                },
                JobSpec {
                    flags: 0,
                    path: b"t",
                    argv: &[b"t"],
                    envp: &[],
                    exe: &[1, 2, 3],
                },
            ],
            42,
        )
    }

    #[test]
    fn round_trip() {
        let p = sample();
        assert_eq!(count(&p).unwrap(), 2);
        assert_eq!(realtime_ns(&p).unwrap(), 42);
        let js: Vec<_> = jobs(&p).collect::<Result<_, _>>().unwrap();
        assert_eq!(js[0].path, b"/bin/echo");
        assert_eq!(
            js[0].argv().collect::<Vec<_>>(),
            vec![&b"echo"[..], b"hi there"]
        );
        assert_eq!(js[0].envp().collect::<Vec<_>>(), vec![&b"A=1"[..]]);
        assert_eq!(js[0].exe, b"\x7fELF....");
        assert_eq!(js[0].flags, 3);
        assert_eq!(js[1].argv().count(), 1);
        assert_eq!(js[1].envp().count(), 0);
        assert_eq!(js[1].exe, &[1, 2, 3]);
    }

    #[test]
    fn refuses_damage_without_panicking() {
        let p = sample();
        assert_eq!(count(b"nope").unwrap_err(), PackError::BadMagic);
        for cut in 0..p.len() {
            let r: Result<Vec<_>, _> = jobs(&p[..cut]).collect();
            if cut < p.len() {
                assert!(r.is_err() || r.unwrap().len() < 2, "cut {cut}");
            }
        }
        // Flip every byte in turn: never a panic.
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] ^= 0xff;
            let _ = jobs(&q).collect::<Vec<_>>();
        }
        let mut q = p.clone();
        q[24 + 12] = 9; // argc beyond the strings
        assert!(jobs(&q).any(|r| r.is_err()));
    }
}
