//! Why an executable was refused.
//!
//! Every refusal is a variant with the numbers that caused it, so the job's
//! diagnostic can say exactly what was wrong with the file instead of a generic
//! "exec format error".

use alloc::string::String;
use core::fmt;

/// The kind of a program header that may appear at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueHeader {
    /// `PT_INTERP`.
    Interp,
    /// `PT_TLS`.
    Tls,
    /// `PT_PHDR`.
    Phdr,
    /// `PT_GNU_STACK`.
    GnuStack,
}

/// An ELF file that cannot be loaded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The file ends before a structure it declares.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset just past the structure.
        needed: u64,
        /// Actual file length.
        len: u64,
    },
    /// The first four bytes are not `\x7fELF`.
    BadMagic,
    /// Not a 64-bit ELF (`EI_CLASS`).
    WrongClass(u8),
    /// Not little-endian (`EI_DATA`).
    WrongEndianness(u8),
    /// `EI_VERSION` / `e_version` is not `EV_CURRENT`.
    BadVersion(u32),
    /// Not an x86_64 executable (`e_machine`).
    WrongMachine(u16),
    /// Neither `ET_EXEC` nor `ET_DYN` (relocatable objects, core files).
    UnsupportedType(u16),
    /// `e_ehsize` or `e_phentsize` do not match the ELF64 structures.
    BadHeaderSize {
        /// Which size field.
        field: &'static str,
        /// Its value.
        value: u16,
    },
    /// More program headers than any sane executable has (includes `PN_XNUM`).
    TooManyProgramHeaders(u16),
    /// goblin could not decode a structure.
    Malformed(&'static str),
    /// A `PT_INTERP` segment: a dynamically linked executable, which needs a
    /// dynamic loader this personality does not provide.
    DynamicExecutable {
        /// The interpreter path the file asks for (lossy UTF-8).
        interpreter: String,
    },
    /// A header type that may appear only once appears twice.
    Duplicate(UniqueHeader),
    /// A segment's file bytes lie (partly) beyond the end of the file.
    SegmentOutOfFile {
        /// Program header index.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
        /// File length.
        len: u64,
    },
    /// `p_filesz > p_memsz`: the file image does not fit in memory.
    FileSizeExceedsMemSize {
        /// Program header index.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// `p_align` is not a power of two or is absurdly large.
    BadAlignment {
        /// Program header index.
        index: usize,
        /// `p_align`.
        align: u64,
    },
    /// `p_vaddr` and `p_offset` are not congruent modulo the alignment or the
    /// page size, so the file cannot be mapped page by page.
    Misaligned {
        /// Program header index.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_offset`.
        offset: u64,
        /// The modulus that was violated.
        align: u64,
    },
    /// Address arithmetic on a segment (bias + vaddr + memsz) overflows.
    AddressOverflow {
        /// Program header index.
        index: usize,
    },
    /// A segment lies outside the user half of the address space, or inside
    /// the guard area at the bottom of it.
    OutsideUserSpace {
        /// Program header index.
        index: usize,
        /// First address (after bias).
        start: u64,
        /// One past the last address (after bias).
        end: u64,
    },
    /// Two loadable segments cover the same bytes.
    Overlap {
        /// Program header index of the lower segment.
        first: usize,
        /// Program header index of the segment that overlaps it.
        second: usize,
    },
    /// The image (or one segment) is larger than the configured limit.
    TooLarge {
        /// What was too big.
        what: &'static str,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// No `PT_LOAD` segment at all.
    NoLoadableSegment,
    /// The entry point is not inside the file-backed part of an executable
    /// segment.
    EntryNotExecutable {
        /// Entry point after bias.
        entry: u64,
    },
    /// `PT_PHDR` names an address that no loadable segment covers, so
    /// `AT_PHDR` would point at unmapped memory.
    PhdrNotLoaded {
        /// Address after bias.
        vaddr: u64,
    },
    /// The `PT_TLS` template is inconsistent.
    BadTls(&'static str),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what, needed, len } => {
                write!(f, "truncated file: {what} needs {needed} bytes, file has {len}")
            }
            Self::BadMagic => f.write_str("not an ELF file (bad magic)"),
            Self::WrongClass(c) => write!(f, "not a 64-bit ELF (EI_CLASS {c})"),
            Self::WrongEndianness(d) => write!(f, "not a little-endian ELF (EI_DATA {d})"),
            Self::BadVersion(v) => write!(f, "unsupported ELF version {v}"),
            Self::WrongMachine(m) => write!(f, "not an x86_64 executable (e_machine {m})"),
            Self::UnsupportedType(t) => write!(f, "not an executable (e_type {t})"),
            Self::BadHeaderSize { field, value } => write!(f, "bad {field} {value}"),
            Self::TooManyProgramHeaders(n) => write!(f, "too many program headers ({n})"),
            Self::Malformed(what) => write!(f, "malformed {what}"),
            Self::DynamicExecutable { interpreter } => write!(
                f,
                "dynamically linked executable (interpreter {interpreter}); only static binaries run here"
            ),
            Self::Duplicate(kind) => write!(f, "more than one {kind:?} program header"),
            Self::SegmentOutOfFile { index, offset, filesz, len } => write!(
                f,
                "segment {index}: file bytes {offset:#x}+{filesz:#x} beyond end of file ({len:#x})"
            ),
            Self::FileSizeExceedsMemSize { index, filesz, memsz } => {
                write!(f, "segment {index}: p_filesz {filesz:#x} > p_memsz {memsz:#x}")
            }
            Self::BadAlignment { index, align } => {
                write!(f, "segment {index}: bad p_align {align:#x}")
            }
            Self::Misaligned { index, vaddr, offset, align } => write!(
                f,
                "segment {index}: p_vaddr {vaddr:#x} and p_offset {offset:#x} differ modulo {align:#x}"
            ),
            Self::AddressOverflow { index } => {
                write!(f, "segment {index}: address arithmetic overflows")
            }
            Self::OutsideUserSpace { index, start, end } => write!(
                f,
                "segment {index}: {start:#x}..{end:#x} outside the user address range"
            ),
            Self::Overlap { first, second } => {
                write!(f, "segments {first} and {second} overlap")
            }
            Self::TooLarge { what, size, limit } => {
                write!(f, "{what} too large: {size:#x} bytes (limit {limit:#x})")
            }
            Self::NoLoadableSegment => f.write_str("no PT_LOAD segment"),
            Self::EntryNotExecutable { entry } => {
                write!(f, "entry point {entry:#x} is not in an executable segment")
            }
            Self::PhdrNotLoaded { vaddr } => {
                write!(f, "PT_PHDR at {vaddr:#x} is not inside a loadable segment")
            }
            Self::BadTls(why) => write!(f, "bad PT_TLS: {why}"),
        }
    }
}

impl core::error::Error for ElfError {}
