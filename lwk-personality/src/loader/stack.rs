//! The initial Linux process stack: what a program finds at RSP on entry.
//!
//! Layout, from the top of the stack downwards (as Linux's `binfmt_elf`
//! builds it, so libc start-up code finds what it expects):
//!
//! ```text
//! top  ->  8 zero bytes (end marker)
//!          AT_EXECFN string, envp strings, argv strings (NUL-terminated)
//!          AT_PLATFORM string "x86_64"
//!          AT_RANDOM's 16 bytes
//!          padding, so that RSP ends 16-byte aligned
//!          auxv: (type, value) pairs ending with AT_NULL
//!          NULL, envp[envc-1] … envp[0]
//!          NULL, argv[argc-1] … argv[0]
//! RSP ->   argc
//! ```
//!
//! The x86_64 SysV ABI requires RSP ≡ 0 (mod 16) at process entry (unlike at
//! a function entry, where a return address has just been pushed); glibc
//! and musl both rely on it for `movaps` spills in their start-up code.
//!
//! The image is built in a caller-provided buffer that stands for the top
//! `buf.len()` bytes below `top`, so the same code serves the host tests and
//! the personality, which writes through its direct map of the stack frames.

use super::elf::LoadPlan;
use core::fmt;

/// End of the auxiliary vector.
pub const AT_NULL: u64 = 0;
/// Address of the program headers.
pub const AT_PHDR: u64 = 3;
/// Size of one program header.
pub const AT_PHENT: u64 = 4;
/// Number of program headers.
pub const AT_PHNUM: u64 = 5;
/// Page size.
pub const AT_PAGESZ: u64 = 6;
/// Base of the interpreter (0: none).
pub const AT_BASE: u64 = 7;
/// Flags (0).
pub const AT_FLAGS: u64 = 8;
/// Entry point of the program.
pub const AT_ENTRY: u64 = 9;
/// Real user id.
pub const AT_UID: u64 = 11;
/// Effective user id.
pub const AT_EUID: u64 = 12;
/// Real group id.
pub const AT_GID: u64 = 13;
/// Effective group id.
pub const AT_EGID: u64 = 14;
/// Address of the platform string.
pub const AT_PLATFORM: u64 = 15;
/// CPU feature bits (CPUID.1:EDX on x86).
pub const AT_HWCAP: u64 = 16;
/// Clock ticks per second of `times(2)`.
pub const AT_CLKTCK: u64 = 17;
/// Secure mode (setuid-like): libc then ignores dangerous environment.
pub const AT_SECURE: u64 = 23;
/// Address of 16 random bytes (stack protector and pointer guard seeds).
pub const AT_RANDOM: u64 = 25;
/// More CPU feature bits (x86: ring-3 MONITOR/MWAIT, FSGSBASE).
pub const AT_HWCAP2: u64 = 26;
/// Address of the file name the program was executed as.
pub const AT_EXECFN: u64 = 31;

/// The platform string of `AT_PLATFORM`.
pub const PLATFORM: &[u8] = b"x86_64";
/// `AT_CLKTCK`: Linux's `USER_HZ` on x86_64.
pub const CLOCK_TICKS: u64 = 100;

/// Values of the auxiliary vector that do not point into the stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuxInfo {
    /// `AT_PHDR` (0 when the program headers are not mapped).
    pub phdr: u64,
    /// `AT_PHENT`.
    pub phent: u64,
    /// `AT_PHNUM`.
    pub phnum: u64,
    /// `AT_ENTRY`.
    pub entry: u64,
    /// `AT_PAGESZ`.
    pub page_size: u64,
    /// `AT_UID`.
    pub uid: u64,
    /// `AT_EUID`.
    pub euid: u64,
    /// `AT_GID`.
    pub gid: u64,
    /// `AT_EGID`.
    pub egid: u64,
    /// `AT_SECURE`.
    pub secure: bool,
    /// `AT_HWCAP`.
    pub hwcap: u64,
    /// `AT_HWCAP2`.
    pub hwcap2: u64,
}

impl AuxInfo {
    /// The plan's values (program headers, entry), 4 KiB pages, root ids,
    /// no hardware capabilities: the caller fills in `hwcap` from CPUID and
    /// the job's ids.
    pub fn for_plan(plan: &LoadPlan) -> Self {
        Self {
            phdr: plan.phdr.unwrap_or(0),
            phent: plan.phent.into(),
            phnum: plan.phnum.into(),
            entry: plan.entry,
            page_size: super::elf::PAGE_SIZE,
            ..Self::default()
        }
    }
}

/// What goes on the stack.
#[derive(Clone, Copy, Debug)]
pub struct StackContents<'a> {
    /// Arguments, without their terminating NUL.
    pub argv: &'a [&'a [u8]],
    /// Environment strings (`NAME=value`), without NUL.
    pub envp: &'a [&'a [u8]],
    /// The executed path (`AT_EXECFN`), without NUL.
    pub execfn: &'a [u8],
    /// The 16 bytes `AT_RANDOM` points to; from a real entropy source.
    pub random: [u8; 16],
    /// The other auxiliary values.
    pub aux: AuxInfo,
}

/// Which string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringKind {
    /// An argument.
    Arg,
    /// An environment string.
    Env,
    /// The executed file name.
    ExecFn,
}

/// Why the stack could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// `top` is not 16-byte aligned.
    TopMisaligned(u64),
    /// The buffer is smaller than the image.
    TooSmall {
        /// Bytes the image needs (worst case, with alignment).
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A string contains a NUL byte, which would cut it short.
    NulInString {
        /// Which list.
        kind: StringKind,
        /// Index within the list (0 for the file name).
        index: usize,
    },
    /// The buffer would extend below address 0.
    AddressUnderflow,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TopMisaligned(top) => write!(f, "stack top {top:#x} not 16-byte aligned"),
            Self::TooSmall { needed, available } => {
                write!(
                    f,
                    "initial stack needs {needed} bytes, {available} available"
                )
            }
            Self::NulInString { kind, index } => write!(f, "{kind:?} string {index} contains NUL"),
            Self::AddressUnderflow => f.write_str("stack buffer extends below address 0"),
        }
    }
}

impl core::error::Error for StackError {}

/// Where things ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitialStack {
    /// Initial RSP (points at argc), 16-byte aligned.
    pub sp: u64,
    /// Address of `argv[0]`'s pointer.
    pub argv: u64,
    /// Address of `envp[0]`'s pointer.
    pub envp: u64,
    /// Address of the first auxv pair.
    pub auxv: u64,
    /// Address of the 16 random bytes.
    pub random: u64,
    /// Address of the `AT_EXECFN` string.
    pub execfn: u64,
    /// Bytes used below `top`.
    pub used: usize,
}

/// Number of auxv pairs written, AT_NULL included.
const AUX_PAIRS: usize = 19;

/// Builds the initial stack. `buf` stands for the memory `[top - buf.len(),
/// top)`; only its last [`InitialStack::used`] bytes are written.
pub fn build(
    buf: &mut [u8],
    top: u64,
    contents: &StackContents<'_>,
) -> Result<InitialStack, StackError> {
    if !top.is_multiple_of(16) {
        return Err(StackError::TopMisaligned(top));
    }
    let bottom = top
        .checked_sub(buf.len() as u64)
        .ok_or(StackError::AddressUnderflow)?;
    check_strings(contents)?;

    let strings: usize = [contents.execfn]
        .iter()
        .chain(contents.envp)
        .chain(contents.argv)
        .map(|s| s.len() + 1)
        .sum::<usize>()
        + PLATFORM.len()
        + 1;
    let words = 1 + contents.argv.len() + 1 + contents.envp.len() + 1 + 2 * AUX_PAIRS;
    // End marker + strings + random + worst-case padding (15) + pointer area.
    let needed = 8 + strings + 16 + 15 + 8 * words;
    if needed > buf.len() {
        return Err(StackError::TooSmall {
            needed,
            available: buf.len(),
        });
    }

    let mut w = Writer {
        buf,
        bottom,
        cursor: top,
        up: 0,
    };
    w.push_bytes(&[0; 8]);
    let execfn = w.push_str(contents.execfn);
    // Strings go downwards: envp, then argv below them (as Linux does).
    let envp_strs = w.push_strs(contents.envp);
    let argv_strs = w.push_strs(contents.argv);
    let platform = w.push_str(PLATFORM);
    let random = w.push_bytes(&contents.random);

    // The pointer area is written upwards from the aligned RSP.
    let sp = (w.cursor - 8 * words as u64) & !15;
    w.up = sp;
    w.emit(contents.argv.len() as u64);
    let argv = w.up;
    for p in argv_strs.addrs(contents.argv) {
        w.emit(p);
    }
    w.emit(0);
    let envp = w.up;
    for p in envp_strs.addrs(contents.envp) {
        w.emit(p);
    }
    w.emit(0);
    let auxv = w.up;
    let a = &contents.aux;
    let pairs: [(u64, u64); AUX_PAIRS] = [
        (AT_HWCAP, a.hwcap),
        (AT_PAGESZ, a.page_size),
        (AT_CLKTCK, CLOCK_TICKS),
        (AT_PHDR, a.phdr),
        (AT_PHENT, a.phent),
        (AT_PHNUM, a.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, a.entry),
        (AT_UID, a.uid),
        (AT_EUID, a.euid),
        (AT_GID, a.gid),
        (AT_EGID, a.egid),
        (AT_SECURE, a.secure.into()),
        (AT_RANDOM, random),
        (AT_HWCAP2, a.hwcap2),
        (AT_EXECFN, execfn),
        (AT_PLATFORM, platform),
        (AT_NULL, 0),
    ];
    for (key, value) in pairs {
        w.emit(key);
        w.emit(value);
    }
    Ok(InitialStack {
        sp,
        argv,
        envp,
        auxv,
        random,
        execfn,
        used: (top - sp) as usize,
    })
}

fn check_strings(c: &StackContents<'_>) -> Result<(), StackError> {
    let nul = |s: &[u8]| s.contains(&0);
    if nul(c.execfn) {
        return Err(StackError::NulInString {
            kind: StringKind::ExecFn,
            index: 0,
        });
    }
    for (kind, list) in [(StringKind::Arg, c.argv), (StringKind::Env, c.envp)] {
        if let Some(index) = list.iter().position(|s| nul(s)) {
            return Err(StackError::NulInString { kind, index });
        }
    }
    Ok(())
}

/// Writer over the buffer: strings go down from `cursor`, words go up from
/// `up`. Every access is within bounds because [`build`] checked the total
/// size first.
struct Writer<'b> {
    buf: &'b mut [u8],
    bottom: u64,
    cursor: u64,
    up: u64,
}

/// Addresses of a run of strings pushed by [`Writer::push_strs`]: the last
/// one pushed is the lowest.
struct StrRun {
    lowest: u64,
}

impl StrRun {
    /// The strings' addresses, first string first.
    fn addrs<'s>(&self, strs: &'s [&'s [u8]]) -> impl Iterator<Item = u64> + 's {
        // The strings lie in order from `lowest` upwards (pushed in reverse).
        let mut at = self.lowest;
        strs.iter().map(move |s| {
            let here = at;
            at += s.len() as u64 + 1;
            here
        })
    }
}

impl Writer<'_> {
    fn index(&self, addr: u64) -> usize {
        (addr - self.bottom) as usize
    }

    fn push_bytes(&mut self, bytes: &[u8]) -> u64 {
        self.cursor -= bytes.len() as u64;
        let i = self.index(self.cursor);
        self.buf[i..i + bytes.len()].copy_from_slice(bytes);
        self.cursor
    }

    fn push_str(&mut self, s: &[u8]) -> u64 {
        self.push_bytes(&[0]);
        self.push_bytes(s)
    }

    /// Pushes the strings last-first so they end up in order in memory.
    fn push_strs(&mut self, strs: &[&[u8]]) -> StrRun {
        for s in strs.iter().rev() {
            self.push_str(s);
        }
        StrRun {
            lowest: self.cursor,
        }
    }

    fn emit(&mut self, value: u64) {
        let i = self.index(self.up);
        self.buf[i..i + 8].copy_from_slice(&value.to_le_bytes());
        self.up += 8;
    }
}
