//! The capDL data model for x86_64: named objects in declaration order, the
//! caps each object holds by slot, and the IRQ map.
//!
//! The model follows capDL-tool's view of the world: page-table objects
//! "hold" caps to the tables and frames mapped below them, a TCB holds its
//! CSpace root, VSpace root, IPC buffer and (MCS-style) fault endpoint in
//! numbered slots, and an `irq` object is a one-slot container whose slot 0
//! names the notification the interrupt is delivered to. Keeping exactly that
//! shape means a spec prints to text capDL-tool accepts and parses back to an
//! equal value.
//!
//! [`crate::Spec::insert_cap`] refuses caps capDL-tool would refuse (unknown target,
//! a badge on a frame cap, a frame in a PML4...), so a spec the root task
//! builds cannot silently describe an impossible system.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt;

/// The architecture line of a spec. Only x86_64 is modelled: it is the only
/// platform this project runs on, and capDL-tool's object set differs per
/// architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Arch {
    /// `arch x86_64`: capDL-tool's keyword for 64-bit x86 (PML4 VSpaces).
    #[default]
    X86_64,
}

impl Arch {
    /// The keyword after `arch` in the text format.
    pub fn keyword(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
        }
    }

    /// Looks up an `arch` keyword; `None` for architectures not modelled.
    pub fn from_keyword(word: &str) -> Option<Self> {
        (word == "x86_64").then_some(Arch::X86_64)
    }
}

/// The three page sizes of x86_64 (1 GiB needs `HUGE_PAGE`, which our kernel
/// configuration enables for the LWK pool).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrameSize {
    /// 4 KiB, mapped by a PT entry.
    Small,
    /// 2 MiB, mapped by a PD entry.
    Large,
    /// 1 GiB, mapped by a PDPT entry.
    Huge,
}

impl FrameSize {
    /// log2 of the size in bytes.
    pub fn bits(self) -> u32 {
        match self {
            FrameSize::Small => 12,
            FrameSize::Large => 21,
            FrameSize::Huge => 30,
        }
    }

    /// Size in bytes.
    pub fn bytes(self) -> u64 {
        1 << self.bits()
    }

    /// The frame size of exactly `bytes` bytes, if x86_64 has one.
    pub fn from_bytes(bytes: u64) -> Option<Self> {
        [FrameSize::Small, FrameSize::Large, FrameSize::Huge]
            .into_iter()
            .find(|s| s.bytes() == bytes)
    }

    /// 2 MiB and 1 GiB frames: the ones the LWK memory policy asks for.
    pub fn is_large(self) -> bool {
        self != FrameSize::Small
    }
}

/// Attributes of a TCB object. All are optional because capDL-tool accepts a
/// TCB with none; the root task records what it set. Note that capDL-tool's
/// model builder only accepts the combinations `addr+ip+sp+prio+affinity` and
/// `addr+affinity` of the first five (our parser accepts any).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcbAttrs {
    /// Virtual address of the IPC buffer (`addr:`).
    pub ipc_buffer_addr: Option<u64>,
    /// Initial instruction pointer (`ip:`).
    pub ip: Option<u64>,
    /// Initial stack pointer (`sp:`).
    pub sp: Option<u64>,
    /// Priority (`prio:`).
    pub prio: Option<u8>,
    /// Maximum controlled priority (`max_prio:`).
    pub max_prio: Option<u8>,
    /// The node (core) the thread is pinned to (`affinity:`).
    pub affinity: Option<u32>,
    /// Scheduling domain (`dom:`).
    pub domain: Option<u32>,
    /// The fault endpoint as a CPtr in the thread's own CSpace (`fault_ep:`).
    /// This is how a non-MCS kernel such as our seL4 5.0 build names the
    /// fault handler: the kernel looks the CPtr up when the fault happens.
    pub fault_ep: Option<u64>,
}

/// The kind of an object, with the parameters its declaration carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `tcb`
    Tcb(TcbAttrs),
    /// `cnode (N bits)`: 2^N slots.
    CNode {
        /// log2 of the number of slots.
        size_bits: u8,
    },
    /// `ep`
    Endpoint,
    /// `notification`
    Notification,
    /// `frame (4k|2M|1024M[, paddr: A])`
    Frame {
        /// Page size.
        size: FrameSize,
        /// Physical address, when the frame must sit at a fixed place
        /// (device memory such as the ivshmem BAR).
        paddr: Option<u64>,
    },
    /// `ut ([N bits][, paddr: A])`
    Untyped {
        /// log2 of the size; capDL allows leaving it open.
        size_bits: Option<u8>,
        /// Physical address of the region.
        paddr: Option<u64>,
    },
    /// `pml4`: the VSpace root on x86_64.
    Pml4,
    /// `pdpt`
    Pdpt,
    /// `pd`
    Pd,
    /// `pt`
    Pt,
    /// `io_ports (ports: [first..last])`, both ends included.
    IoPorts {
        /// First port.
        first: u16,
        /// Last port (inclusive).
        last: u16,
    },
    /// `irq`: slot 0 holds the notification the IRQ is delivered to.
    Irq,
    /// `asid_pool`
    AsidPool,
}

/// The type of an object without its parameters; used in errors and when
/// checking which cap may sit where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    /// `tcb`
    Tcb,
    /// `cnode`
    CNode,
    /// `ep`
    Endpoint,
    /// `notification`
    Notification,
    /// `frame`
    Frame,
    /// `ut`
    Untyped,
    /// `pml4`
    Pml4,
    /// `pdpt`
    Pdpt,
    /// `pd`
    Pd,
    /// `pt`
    Pt,
    /// `io_ports`
    IoPorts,
    /// `irq`
    Irq,
    /// `asid_pool`
    AsidPool,
}

impl ObjectType {
    /// Every type, in keyword order.
    pub const ALL: [ObjectType; 13] = [
        ObjectType::Tcb,
        ObjectType::CNode,
        ObjectType::Endpoint,
        ObjectType::Notification,
        ObjectType::Frame,
        ObjectType::Untyped,
        ObjectType::Pml4,
        ObjectType::Pdpt,
        ObjectType::Pd,
        ObjectType::Pt,
        ObjectType::IoPorts,
        ObjectType::Irq,
        ObjectType::AsidPool,
    ];

    /// The capDL keyword (`tcb`, `cnode`, `ep`...).
    pub fn keyword(self) -> &'static str {
        match self {
            ObjectType::Tcb => "tcb",
            ObjectType::CNode => "cnode",
            ObjectType::Endpoint => "ep",
            ObjectType::Notification => "notification",
            ObjectType::Frame => "frame",
            ObjectType::Untyped => "ut",
            ObjectType::Pml4 => "pml4",
            ObjectType::Pdpt => "pdpt",
            ObjectType::Pd => "pd",
            ObjectType::Pt => "pt",
            ObjectType::IoPorts => "io_ports",
            ObjectType::Irq => "irq",
            ObjectType::AsidPool => "asid_pool",
        }
    }

    /// Looks up a capDL object keyword.
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.keyword() == word)
    }

    /// Whether objects of this type have cap slots (in capDL's sense, which
    /// includes page-table entries).
    pub fn holds_caps(self) -> bool {
        matches!(
            self,
            ObjectType::Tcb
                | ObjectType::CNode
                | ObjectType::Pml4
                | ObjectType::Pdpt
                | ObjectType::Pd
                | ObjectType::Pt
                | ObjectType::Irq
                | ObjectType::AsidPool
        )
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

impl ObjectKind {
    /// The parameter-free type.
    pub fn object_type(&self) -> ObjectType {
        match self {
            ObjectKind::Tcb(_) => ObjectType::Tcb,
            ObjectKind::CNode { .. } => ObjectType::CNode,
            ObjectKind::Endpoint => ObjectType::Endpoint,
            ObjectKind::Notification => ObjectType::Notification,
            ObjectKind::Frame { .. } => ObjectType::Frame,
            ObjectKind::Untyped { .. } => ObjectType::Untyped,
            ObjectKind::Pml4 => ObjectType::Pml4,
            ObjectKind::Pdpt => ObjectType::Pdpt,
            ObjectKind::Pd => ObjectType::Pd,
            ObjectKind::Pt => ObjectType::Pt,
            ObjectKind::IoPorts { .. } => ObjectType::IoPorts,
            ObjectKind::Irq => ObjectType::Irq,
            ObjectKind::AsidPool => ObjectType::AsidPool,
        }
    }

    /// The frame size, for frames.
    pub fn frame_size(&self) -> Option<FrameSize> {
        match self {
            ObjectKind::Frame { size, .. } => Some(*size),
            _ => None,
        }
    }
}

/// Access rights of a cap: any subset of R, W, G and X.
///
/// capDL-tool reads `X` as a synonym of `G` (grant); we keep it as its own
/// flag so that what the root task recorded survives a round trip unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rights(u8);

impl Rights {
    /// No rights.
    pub const NONE: Rights = Rights(0);
    /// Read.
    pub const R: Rights = Rights(1);
    /// Write.
    pub const W: Rights = Rights(2);
    /// Grant.
    pub const G: Rights = Rights(4);
    /// The `X` letter of the text format.
    pub const X: Rights = Rights(8);
    /// Read and write: the usual frame rights.
    pub const RW: Rights = Rights(3);
    /// Read, write and grant: the usual endpoint rights.
    pub const RWG: Rights = Rights(7);

    const LETTERS: [(char, Rights); 4] = [
        ('R', Rights::R),
        ('W', Rights::W),
        ('G', Rights::G),
        ('X', Rights::X),
    ];

    /// The right a letter stands for.
    pub fn from_letter(c: char) -> Option<Rights> {
        Self::LETTERS.iter().find(|(l, _)| *l == c).map(|(_, r)| *r)
    }

    /// Parses a word such as `RWG`; `None` if any letter is not a right.
    pub fn from_word(word: &str) -> Option<Rights> {
        if word.is_empty() {
            return None;
        }
        word.chars()
            .try_fold(Rights::NONE, |acc, c| Some(acc | Rights::from_letter(c)?))
    }

    /// Whether every right in `other` is also in `self`.
    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no right is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Rights) -> Rights {
        Rights(self.0 | rhs.0)
    }
}

impl fmt::Display for Rights {
    /// Letters in the fixed order R, W, G, X (empty for no rights).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (letter, right) in Self::LETTERS {
            if self.contains(right) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// An ASID as capDL writes it: `(pool, index)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Asid {
    /// ASID pool number (high bits).
    pub high: u64,
    /// Index inside the pool (low bits).
    pub low: u64,
}

/// Where a frame cap held in a CNode is mapped, in capDL-tool's terms: the
/// page-table object and the slot (entry index) in it. Use
/// [`crate::Spec::frame_mapping_vaddr`] to turn it into a (VSpace, vaddr) pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameMapping {
    /// The PT, PD or PDPT whose entry maps the frame.
    pub table: String,
    /// Entry index in that table.
    pub slot: u64,
}

/// A capability: the object it names and the parameters capDL gives it.
/// Fields that do not apply to the target type stay at their defaults
/// ([`crate::Spec::insert_cap`] enforces this).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cap {
    /// Name of the target object, or one of [`SPECIAL_TARGETS`].
    pub target: String,
    /// Rights (endpoints, notifications, frames).
    pub rights: Rights,
    /// Badge (endpoints, notifications); 0 means unbadged.
    pub badge: u64,
    /// CNode guard value.
    pub guard: u64,
    /// CNode guard size in bits.
    pub guard_size: u8,
    /// ASID (frames, paging structures, ASID pools).
    pub asid: Option<Asid>,
    /// Whether a frame is mapped cached; capDL's default is cached.
    pub cached: bool,
    /// For a frame cap held in a CNode: where that cap has mapped the frame.
    pub mapping: Option<FrameMapping>,
}

/// Cap targets that are not objects but kernel-wide authorities; capDL-tool
/// knows them by these names. Only CNodes may hold them.
pub const SPECIAL_TARGETS: [&str; 5] = [
    "asid_control",
    "irq_control",
    "io_space_master",
    "domain",
    "sched_control",
];

/// Names capDL-tool reserves; they cannot name objects.
pub const RESERVED_NAMES: [&str; 2] = ["objects", "caps"];

impl Cap {
    /// A cap to `target` with no rights and every parameter at its default.
    pub fn new(target: impl Into<String>) -> Self {
        Cap {
            target: target.into(),
            rights: Rights::NONE,
            badge: 0,
            guard: 0,
            guard_size: 0,
            asid: None,
            cached: true,
            mapping: None,
        }
    }

    /// Sets the rights.
    pub fn with_rights(mut self, rights: Rights) -> Self {
        self.rights = rights;
        self
    }

    /// Sets the badge.
    pub fn with_badge(mut self, badge: u64) -> Self {
        self.badge = badge;
        self
    }

    /// Sets the CNode guard and its size in bits.
    pub fn with_guard(mut self, guard: u64, guard_size: u8) -> Self {
        self.guard = guard;
        self.guard_size = guard_size;
        self
    }

    /// Sets the ASID.
    pub fn with_asid(mut self, asid: Asid) -> Self {
        self.asid = Some(asid);
        self
    }

    /// Marks a frame cap as mapping uncached (device memory).
    pub fn uncached(mut self) -> Self {
        self.cached = false;
        self
    }

    /// Records where a frame cap has mapped its frame.
    pub fn with_mapping(mut self, table: impl Into<String>, slot: u64) -> Self {
        self.mapping = Some(FrameMapping {
            table: table.into(),
            slot,
        });
        self
    }
}

/// A named object with its cap slots (empty for objects that hold none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// The object's name, unique in its spec.
    pub name: String,
    /// What it is.
    pub kind: ObjectKind,
    /// Caps by slot index.
    pub slots: BTreeMap<u64, Cap>,
}

/// Whether `name` is a valid capDL identifier: a letter, then letters,
/// digits, `_`, `@`, `.` or `-` (the characters capDL-tool's lexer takes).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_@.-".contains(c))
}
