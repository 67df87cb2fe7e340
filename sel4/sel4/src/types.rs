//! Small value types of the ABI.

use crate::Word;

/// `seL4_CapRights_t`: grant, read, write (bits 2, 1, 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapRights(Word);

impl CapRights {
    pub const fn new(grant: bool, read: bool, write: bool) -> Self {
        CapRights(((grant as Word) << 2) | ((read as Word) << 1) | (write as Word))
    }
    pub const fn all() -> Self {
        Self::new(true, true, true)
    }
    pub const fn read_write() -> Self {
        Self::new(false, true, true)
    }
    pub const fn read_only() -> Self {
        Self::new(false, true, false)
    }
    pub const fn none() -> Self {
        Self::new(false, false, false)
    }
    pub const fn into_word(self) -> Word {
        self.0
    }
    pub const fn from_word(w: Word) -> Self {
        CapRights(w & 7)
    }
    pub const fn grant(self) -> bool {
        self.0 & 4 != 0
    }
    pub const fn read(self) -> bool {
        self.0 & 2 != 0
    }
    pub const fn write(self) -> bool {
        self.0 & 1 != 0
    }
}

/// `seL4_CapData_t`: a badge, a CNode guard, or an IO port range: the
/// kernel reads the word according to the kind of cap being minted
/// (`cnode_capdata`, `io_port_capdata` in the kernel's bitfield files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapData(Word);

impl CapData {
    /// A badge for minting endpoint/notification caps.
    pub const fn badge(b: Word) -> Self {
        CapData(b)
    }
    /// A CNode guard: `guard_bits` bits of guard with value `guard`
    /// (64-bit `cnode_capdata`: guard in bits 8..26, guard size in 2..8).
    pub const fn guard(guard: Word, guard_bits: Word) -> Self {
        CapData(((guard & 0x3_ffff) << 8) | ((guard_bits & 0x3f) << 2))
    }
    /// An IO port range `[first, last]` for minting a narrower IOPort cap
    /// (`io_port_capdata`: first port in bits 16..32, last in 0..16).
    pub const fn io_ports(first: u16, last: u16) -> Self {
        CapData(((first as Word) << 16) | last as Word)
    }
    /// "Don't change": the null cap data.
    pub const fn none() -> Self {
        CapData(0)
    }
    pub const fn into_word(self) -> Word {
        self.0
    }
    pub const fn from_word(w: Word) -> Self {
        CapData(w)
    }
}

/// `seL4_PrioProps_t`: maximum controlled priority and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrioProps(Word);

impl PrioProps {
    pub const fn new(mcp: u8, prio: u8) -> Self {
        PrioProps(((mcp as Word) << 8) | prio as Word)
    }
    pub const fn into_word(self) -> Word {
        self.0
    }
    pub const fn from_word(w: Word) -> Self {
        PrioProps(w & 0xffff)
    }
}

/// `seL4_X86_VMAttributes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmAttributes(Word);

impl VmAttributes {
    pub const DEFAULT: Self = VmAttributes(0);
    pub const WRITE_THROUGH: Self = VmAttributes(1);
    pub const CACHE_DISABLED: Self = VmAttributes(2);
    pub const UNCACHEABLE: Self = VmAttributes(3);
    pub const WRITE_COMBINING: Self = VmAttributes(4);
    pub const fn into_word(self) -> Word {
        self.0
    }
    pub const fn from_word(w: Word) -> Self {
        VmAttributes(w)
    }
}

/// `seL4_UserContext` of x86_64: 19 words in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct UserContext {
    pub rip: Word,
    pub rsp: Word,
    pub rflags: Word,
    pub rax: Word,
    pub rbx: Word,
    pub rcx: Word,
    pub rdx: Word,
    pub rsi: Word,
    pub rdi: Word,
    pub rbp: Word,
    pub r8: Word,
    pub r9: Word,
    pub r10: Word,
    pub r11: Word,
    pub r12: Word,
    pub r13: Word,
    pub r14: Word,
    pub r15: Word,
    /// Loaded into the FS base on return to user: `arch_prctl(SET_FS)`.
    pub tls_base: Word,
}

impl UserContext {
    /// Number of words (`count` for Read/WriteRegisters of everything).
    pub const WORDS: usize = 19;

    pub fn as_words(&self) -> [Word; 19] {
        [
            self.rip,
            self.rsp,
            self.rflags,
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rbp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.tls_base,
        ]
    }

    /// From message words; missing words read as zero.
    pub fn from_words(w: &[Word]) -> Self {
        let g = |i: usize| w.get(i).copied().unwrap_or(0);
        UserContext {
            rip: g(0),
            rsp: g(1),
            rflags: g(2),
            rax: g(3),
            rbx: g(4),
            rcx: g(5),
            rdx: g(6),
            rsi: g(7),
            rdi: g(8),
            rbp: g(9),
            r8: g(10),
            r9: g(11),
            r10: g(12),
            r11: g(13),
            r12: g(14),
            r13: g(15),
            r14: g(16),
            r15: g(17),
            tls_base: g(18),
        }
    }
}

/// `seL4_VCPUContext` (only referenced by VT-x invocations, which our
/// configurations leave out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcpuContext(pub [Word; 7]);

impl VcpuContext {
    pub fn as_words(&self) -> [Word; 7] {
        self.0
    }
    pub fn from_words(w: &[Word]) -> Self {
        let mut a = [0; 7];
        for (d, s) in a.iter_mut().zip(w) {
            *d = *s;
        }
        VcpuContext(a)
    }
}
