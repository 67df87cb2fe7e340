//! ELF parsing and validation: from the bytes of an executable to a
//! [`LoadPlan`] the memory manager can carry out without further checks.
//!
//! The personality runs *static* Linux x86_64 executables only: classic
//! `ET_EXEC` binaries and static-PIE (`ET_DYN` without `PT_INTERP`). There is
//! no dynamic loader, so a `PT_INTERP` segment is refused up front, naming the
//! interpreter the file wanted.
//!
//! The file comes from an untrusted place (the job's file system, through
//! forwarded I/O), so every number in it is checked before it is used: file
//! bounds, `p_filesz <= p_memsz`, alignment, address arithmetic (all
//! `checked_*`), the user address range, overlaps, and sizes against a
//! configurable limit. The result is a plan whose invariants the mapper can
//! rely on. Like Linux's `binfmt_elf`, we keep the legacy acceptance rules
//! where real binaries need them (for instance segments may share a page when
//! their byte ranges do not overlap).
//!
//! goblin decodes the structures; the policy is ours.

mod error;
mod sections;

pub use error::{ElfError, UniqueHeader};

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;
use goblin::container::{Container, Ctx};
use goblin::elf::header::{self as eh, Header};
use goblin::elf::program_header::{self as ph, ProgramHeader};

/// The small page size of x86_64, the granule of segment permissions.
pub const PAGE_SIZE: u64 = 4096;
/// The large page size the LWK prefers for everything it maps.
pub const LARGE_PAGE_SIZE: u64 = 2 << 20;
/// Lowest address a segment may use: the first 64 KiB stay unmapped so that
/// null-pointer dereferences fault (Linux's default `mmap_min_addr`).
pub const MIN_USER_ADDR: u64 = 0x1_0000;
/// One past the highest user address (Linux's `TASK_SIZE` with 4-level paging).
pub const USER_END: u64 = (1 << 47) - PAGE_SIZE;
/// Where a static-PIE is placed unless configured otherwise: Linux's habitual
/// PIE area, rounded to a large page so text can be mapped with 2 MiB pages.
pub const DEFAULT_PIE_BASE: u64 = 0x0000_5555_5540_0000;

/// Size of an ELF64 file header.
const EHDR_SIZE: u64 = 64;
/// Size of an ELF64 program header.
const PHDR_SIZE: u64 = 56;
/// Linux refuses program header tables over 64 KiB (`load_elf_phdrs`).
const MAX_PHNUM: u16 = (65536 / PHDR_SIZE) as u16;
/// Alignments beyond 1 GiB (the largest page) serve no purpose and would make
/// the PIE bias absurd.
const MAX_ALIGN: u64 = 1 << 30;

/// Tunables of the loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadConfig {
    /// Base for a static-PIE; rounded up to the largest segment alignment (at
    /// least [`LARGE_PAGE_SIZE`]).
    pub pie_base: u64,
    /// Largest acceptable span of the loaded image (first page to last page).
    /// HPC codes can have multi-GiB static arrays in `.bss`, hence the
    /// generous default; the memory pool is the real limit.
    pub max_image_size: u64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            pie_base: DEFAULT_PIE_BASE,
            max_image_size: 64 << 30,
        }
    }
}

/// Which kind of static executable this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`: linked at fixed addresses, bias 0.
    Executable,
    /// `ET_DYN` without interpreter: position independent, relocates itself.
    StaticPie,
}

/// Access rights of a segment (`PF_R`, `PF_W`, `PF_X`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Perms {
    fn from_flags(flags: u32) -> Self {
        Self {
            read: flags & ph::PF_R != 0,
            write: flags & ph::PF_W != 0,
            exec: flags & ph::PF_X != 0,
        }
    }
}

/// A validated `PT_LOAD` segment, addresses already biased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index of the program header it came from (for diagnostics).
    pub index: usize,
    /// First byte in memory.
    pub vaddr: u64,
    /// Bytes in memory; those past `filesz` are zero (`.bss`).
    pub memsz: u64,
    /// Offset of the file image.
    pub offset: u64,
    /// Bytes copied from the file.
    pub filesz: u64,
    /// `p_align` (0 or 1 mean none).
    pub align: u64,
    /// Access rights.
    pub perms: Perms,
}

impl Segment {
    /// Memory range of the segment, exact bytes.
    pub fn range(&self) -> Range<u64> {
        self.vaddr..self.vaddr + self.memsz
    }

    /// Memory range rounded out to whole small pages, as it must be mapped.
    pub fn page_range(&self) -> Range<u64> {
        page_down(self.vaddr)..page_up(self.vaddr + self.memsz)
    }

    /// The file image of the segment; in bounds by construction.
    pub fn file_bytes<'f>(&self, file: &'f [u8]) -> &'f [u8] {
        // The plan was validated against this very file length; `get` keeps a
        // caller that passes another file from panicking.
        file.get(self.offset as usize..(self.offset + self.filesz) as usize)
            .unwrap_or(&[])
    }

    /// Whether `[addr, addr + len)` lies in the file-backed part.
    fn holds_file_bytes(&self, addr: u64, len: u64) -> bool {
        addr >= self.vaddr
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= self.vaddr + self.filesz)
    }
}

/// The `PT_TLS` template, recorded for the thread code (static binaries set
/// up their own TLS through `arch_prctl`, reading it via `AT_PHDR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsTemplate {
    /// Address of the initialisation image (biased).
    pub vaddr: u64,
    /// Bytes of initialised data.
    pub filesz: u64,
    /// Total size of a thread's block (the rest is zeroed).
    pub memsz: u64,
    /// Required alignment of a thread's block.
    pub align: u64,
}

/// A stretch of a file that holds machine code, for the syscall rewriter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeRegion {
    /// Load address of the first byte (biased).
    pub vaddr: u64,
    /// File offset of the first byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Where the code regions came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeSource {
    /// The section headers' executable sections (`.init`, `.text`, …): exact,
    /// keeps read-only data that shares an executable segment out of the sweep.
    Sections,
    /// No usable section headers: whole executable segments, minus the ELF
    /// and program headers when the first segment maps them.
    Segments,
}

/// Everything needed to load and start a validated static executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// Executable or static-PIE.
    pub kind: ElfKind,
    /// Added to every file address (0 for `ET_EXEC`).
    pub bias: u64,
    /// Entry point (biased), inside an executable segment.
    pub entry: u64,
    /// Loadable segments sorted by address, non-overlapping, non-empty.
    pub segments: Vec<Segment>,
    /// Thread-local storage template, if any.
    pub tls: Option<TlsTemplate>,
    /// Address of the program headers in memory (`AT_PHDR`), when mapped.
    pub phdr: Option<u64>,
    /// Size of one program header (`AT_PHENT`).
    pub phent: u16,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u16,
    /// `PT_GNU_STACK` asks for an executable stack. Absent means
    /// non-executable, as Linux decides on x86_64.
    pub executable_stack: bool,
    /// `PT_GNU_STACK`'s `p_memsz`, when the linker recorded a stack size.
    pub stack_size_hint: Option<u64>,
    /// Code to sweep for `syscall` instructions, sorted by address.
    pub code: Vec<CodeRegion>,
    /// Where [`Self::code`] came from.
    pub code_source: CodeSource,
}

impl LoadPlan {
    /// Page-rounded span from the lowest to the highest loaded byte.
    pub fn image_range(&self) -> Range<u64> {
        // Non-empty by construction.
        let first = self.segments.first().map_or(0, |s| s.vaddr);
        let last = self.segments.last().map_or(0, |s| s.vaddr + s.memsz);
        page_down(first)..page_up(last)
    }

    /// The executable segments.
    pub fn executable_segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().filter(|s| s.perms.exec)
    }
}

/// Parses and validates `file` with the default [`LoadConfig`].
pub fn parse(file: &[u8]) -> Result<LoadPlan, ElfError> {
    parse_with(file, &LoadConfig::default())
}

/// Parses and validates `file`.
pub fn parse_with(file: &[u8], config: &LoadConfig) -> Result<LoadPlan, ElfError> {
    let len = file.len() as u64;
    check_ident(file)?;
    let header =
        goblin::elf::Elf::parse_header(file).map_err(|_| ElfError::Malformed("ELF header"))?;
    let kind = check_header(&header)?;
    let ctx = Ctx::new(Container::Big, goblin::container::Endian::Little);

    let table = header.e_phoff
        ..checked_end(header.e_phoff, u64::from(header.e_phnum) * PHDR_SIZE)
            .filter(|&end| end <= len)
            .ok_or(ElfError::Truncated {
                what: "program header table",
                needed: header
                    .e_phoff
                    .saturating_add(u64::from(header.e_phnum) * PHDR_SIZE),
                len,
            })?;
    let phdrs = ProgramHeader::parse(
        file,
        header.e_phoff as usize,
        usize::from(header.e_phnum),
        ctx,
    )
    .map_err(|_| ElfError::Malformed("program headers"))?;

    // A dynamic executable gets that diagnosis before any other complaint.
    if let Some(interp) = phdrs.iter().find(|p| p.p_type == ph::PT_INTERP) {
        return Err(ElfError::DynamicExecutable {
            interpreter: interpreter_path(file, interp),
        });
    }

    let mut loads = Vec::new();
    let (mut tls, mut phdr, mut stack) = (None, None, None);
    for (index, p) in phdrs.iter().enumerate() {
        match p.p_type {
            ph::PT_LOAD => {
                check_file_image(index, p, len)?;
                check_alignment(index, p)?;
                if p.p_memsz > 0 {
                    loads.push((index, p));
                }
            }
            ph::PT_TLS => set_once(&mut tls, p, UniqueHeader::Tls)?,
            ph::PT_PHDR => set_once(&mut phdr, p, UniqueHeader::Phdr)?,
            ph::PT_GNU_STACK => set_once(&mut stack, p, UniqueHeader::GnuStack)?,
            _ => {}
        }
    }
    if loads.is_empty() {
        return Err(ElfError::NoLoadableSegment);
    }

    let bias = match kind {
        ElfKind::Executable => 0,
        ElfKind::StaticPie => pie_bias(config.pie_base, &loads)?,
    };
    let segments = place_segments(&loads, bias, config)?;

    let entry = header
        .e_entry
        .checked_add(bias)
        .filter(|&e| {
            segments
                .iter()
                .any(|s| s.perms.exec && s.holds_file_bytes(e, 1))
        })
        .ok_or(ElfError::EntryNotExecutable {
            entry: header.e_entry.wrapping_add(bias),
        })?;

    let phdr = phdr_address(phdr, &table, bias, &segments)?;
    let tls = tls
        .map(|t| tls_template(t, bias, len, &segments))
        .transpose()?;
    let (code, code_source) = sections::code_regions(file, &header, ctx, bias, &segments, &table);

    Ok(LoadPlan {
        kind,
        bias,
        entry,
        segments,
        tls,
        phdr,
        phent: PHDR_SIZE as u16,
        phnum: header.e_phnum,
        executable_stack: stack.is_some_and(|s| s.p_flags & ph::PF_X != 0),
        stack_size_hint: stack.map(|s| s.p_memsz).filter(|&n| n != 0),
        code,
        code_source,
    })
}

/// Checks `e_ident` by hand so that each failure gets its own error.
fn check_ident(file: &[u8]) -> Result<(), ElfError> {
    if file.len() < eh::SELFMAG {
        return Err(ElfError::BadMagic);
    }
    if &file[..eh::SELFMAG] != eh::ELFMAG {
        return Err(ElfError::BadMagic);
    }
    if (file.len() as u64) < EHDR_SIZE {
        return Err(ElfError::Truncated {
            what: "ELF header",
            needed: EHDR_SIZE,
            len: file.len() as u64,
        });
    }
    match file[eh::EI_CLASS] {
        eh::ELFCLASS64 => {}
        c => return Err(ElfError::WrongClass(c)),
    }
    match file[eh::EI_DATA] {
        eh::ELFDATA2LSB => {}
        d => return Err(ElfError::WrongEndianness(d)),
    }
    match file[eh::EI_VERSION] {
        eh::EV_CURRENT => Ok(()),
        v => Err(ElfError::BadVersion(v.into())),
    }
}

fn check_header(header: &Header) -> Result<ElfKind, ElfError> {
    if header.e_version != u32::from(eh::EV_CURRENT) {
        return Err(ElfError::BadVersion(header.e_version));
    }
    if header.e_machine != eh::EM_X86_64 {
        return Err(ElfError::WrongMachine(header.e_machine));
    }
    let kind = match header.e_type {
        eh::ET_EXEC => ElfKind::Executable,
        eh::ET_DYN => ElfKind::StaticPie,
        t => return Err(ElfError::UnsupportedType(t)),
    };
    if u64::from(header.e_ehsize) != EHDR_SIZE {
        return Err(ElfError::BadHeaderSize {
            field: "e_ehsize",
            value: header.e_ehsize,
        });
    }
    if header.e_phnum == 0 {
        return Err(ElfError::NoLoadableSegment);
    }
    if u64::from(header.e_phentsize) != PHDR_SIZE {
        return Err(ElfError::BadHeaderSize {
            field: "e_phentsize",
            value: header.e_phentsize,
        });
    }
    if header.e_phnum > MAX_PHNUM {
        return Err(ElfError::TooManyProgramHeaders(header.e_phnum));
    }
    Ok(kind)
}

fn interpreter_path(file: &[u8], interp: &ProgramHeader) -> String {
    let bytes = checked_end(interp.p_offset, interp.p_filesz)
        .and_then(|end| file.get(interp.p_offset as usize..end as usize))
        .unwrap_or(b"<outside the file>");
    let path = bytes.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(path).into_owned()
}

fn set_once<'p>(
    slot: &mut Option<&'p ProgramHeader>,
    p: &'p ProgramHeader,
    kind: UniqueHeader,
) -> Result<(), ElfError> {
    if slot.replace(p).is_some() {
        return Err(ElfError::Duplicate(kind));
    }
    Ok(())
}

fn check_file_image(index: usize, p: &ProgramHeader, len: u64) -> Result<(), ElfError> {
    if checked_end(p.p_offset, p.p_filesz).is_none_or(|end| end > len) {
        return Err(ElfError::SegmentOutOfFile {
            index,
            offset: p.p_offset,
            filesz: p.p_filesz,
            len,
        });
    }
    if p.p_filesz > p.p_memsz {
        return Err(ElfError::FileSizeExceedsMemSize {
            index,
            filesz: p.p_filesz,
            memsz: p.p_memsz,
        });
    }
    Ok(())
}

/// `p_align` must be a power of two (0 and 1 mean "none") and the file offset
/// must sit at the same place within a page (and within `p_align`) as the
/// address, so the image can be placed page by page as `mmap` would.
fn check_alignment(index: usize, p: &ProgramHeader) -> Result<(), ElfError> {
    let align = p.p_align;
    if align > 1 && (!align.is_power_of_two() || align > MAX_ALIGN) {
        return Err(ElfError::BadAlignment { index, align });
    }
    let modulus = align.max(PAGE_SIZE);
    if p.p_vaddr % modulus != p.p_offset % modulus {
        return Err(ElfError::Misaligned {
            index,
            vaddr: p.p_vaddr,
            offset: p.p_offset,
            align: modulus,
        });
    }
    Ok(())
}

/// Static-PIE placement: `pie_base` rounded up to the largest alignment any
/// segment asks for, and to a large page, so biasing keeps every congruence.
fn pie_bias(pie_base: u64, loads: &[(usize, &ProgramHeader)]) -> Result<u64, ElfError> {
    let align = loads
        .iter()
        .map(|(_, p)| p.p_align)
        .fold(LARGE_PAGE_SIZE, u64::max);
    pie_base
        .checked_next_multiple_of(align)
        .ok_or(ElfError::AddressOverflow { index: loads[0].0 })
}

/// Biases, range-checks, sorts and overlap-checks the loadable segments.
fn place_segments(
    loads: &[(usize, &ProgramHeader)],
    bias: u64,
    config: &LoadConfig,
) -> Result<Vec<Segment>, ElfError> {
    let mut segments = Vec::with_capacity(loads.len());
    for &(index, p) in loads {
        let vaddr = p.p_vaddr.checked_add(bias);
        let end = vaddr.and_then(|v| v.checked_add(p.p_memsz));
        let (Some(vaddr), Some(end)) = (vaddr, end) else {
            return Err(ElfError::AddressOverflow { index });
        };
        if vaddr < MIN_USER_ADDR || end > USER_END {
            return Err(ElfError::OutsideUserSpace {
                index,
                start: vaddr,
                end,
            });
        }
        segments.push(Segment {
            index,
            vaddr,
            memsz: p.p_memsz,
            offset: p.p_offset,
            filesz: p.p_filesz,
            align: p.p_align,
            perms: Perms::from_flags(p.p_flags),
        });
    }
    segments.sort_by_key(|s| s.vaddr);
    for pair in segments.windows(2) {
        if pair[0].vaddr + pair[0].memsz > pair[1].vaddr {
            return Err(ElfError::Overlap {
                first: pair[0].index,
                second: pair[1].index,
            });
        }
    }
    let first = segments[0].vaddr;
    let last = segments[segments.len() - 1].range().end;
    let span = page_up(last) - page_down(first);
    if span > config.max_image_size {
        return Err(ElfError::TooLarge {
            what: "image",
            size: span,
            limit: config.max_image_size,
        });
    }
    Ok(segments)
}

/// `AT_PHDR`: `PT_PHDR` when present (it must then be mapped, since libc
/// walks it to find `PT_TLS`), else the program header table's place in the
/// segment whose file image contains it, else unknown.
fn phdr_address(
    phdr: Option<&ProgramHeader>,
    table: &Range<u64>,
    bias: u64,
    segments: &[Segment],
) -> Result<Option<u64>, ElfError> {
    let table_len = table.end - table.start;
    if let Some(p) = phdr {
        let vaddr = p.p_vaddr.wrapping_add(bias);
        let mapped = p.p_vaddr.checked_add(bias).is_some()
            && segments
                .iter()
                .any(|s| s.holds_file_bytes(vaddr, table_len));
        return if mapped {
            Ok(Some(vaddr))
        } else {
            Err(ElfError::PhdrNotLoaded { vaddr })
        };
    }
    Ok(segments
        .iter()
        .find(|s| s.offset <= table.start && table.end <= s.offset + s.filesz)
        .map(|s| s.vaddr + (table.start - s.offset)))
}

fn tls_template(
    p: &ProgramHeader,
    bias: u64,
    len: u64,
    segments: &[Segment],
) -> Result<TlsTemplate, ElfError> {
    if checked_end(p.p_offset, p.p_filesz).is_none_or(|end| end > len) {
        return Err(ElfError::BadTls("initialisation image outside the file"));
    }
    if p.p_filesz > p.p_memsz {
        return Err(ElfError::BadTls("p_filesz > p_memsz"));
    }
    if p.p_align > 1 && (!p.p_align.is_power_of_two() || p.p_align > MAX_ALIGN) {
        return Err(ElfError::BadTls("p_align not a reasonable power of two"));
    }
    if p.p_memsz > MAX_ALIGN {
        return Err(ElfError::BadTls("p_memsz absurdly large"));
    }
    let vaddr = p
        .p_vaddr
        .checked_add(bias)
        .filter(|&v| p.p_filesz == 0 || segments.iter().any(|s| s.holds_file_bytes(v, p.p_filesz)))
        .ok_or(ElfError::BadTls(
            "initialisation image not inside a loaded segment",
        ))?;
    Ok(TlsTemplate {
        vaddr,
        filesz: p.p_filesz,
        memsz: p.p_memsz,
        align: p.p_align.max(1),
    })
}

/// `start + len`, or `None` on overflow.
fn checked_end(start: u64, len: u64) -> Option<u64> {
    start.checked_add(len)
}

/// Rounds down to a small page.
pub const fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// Rounds up to a small page; callers stay below [`USER_END`], so no overflow.
pub const fn page_up(addr: u64) -> u64 {
    (addr + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}
