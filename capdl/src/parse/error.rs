//! Parse errors: where (line and column) and what (a [`ParseErrorKind`]).

use alloc::string::String;
use core::fmt;

use crate::model::ObjectType;
use crate::spec::ModelError;

/// A parse failure at a place in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// The token found where something else was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// An identifier or keyword.
    Identifier(String),
    /// A number.
    Number(u64),
    /// A symbol such as `{` or `..`.
    Symbol(&'static str),
    /// The end of the input.
    EndOfInput,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Identifier(s) => write!(f, "`{s}`"),
            Found::Number(n) => write!(f, "the number {n}"),
            Found::Symbol(s) => write!(f, "`{s}`"),
            Found::EndOfInput => f.write_str("the end of the input"),
        }
    }
}

/// Parts of the capDL language this parser deliberately does not take: the
/// root task never writes them, and accepting them half-way would make the
/// round trip lossy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// `name[4] = ...` and `name[1..3]` references.
    ObjectArrays,
    /// `outer/inner` names.
    QualifiedNames,
    /// Objects declared inside an untyped's `{ }` (covering sets).
    UntypedCovers,
    /// `slot: capname = target` and `capname = (obj, slot)`.
    CapNames,
    /// `<capname>` copies.
    CapCopies,
    /// `- child_of` derivation.
    CapParents,
    /// `masked:` rights.
    MaskedRights,
    /// `reply` / `master_reply` caps.
    ReplyCaps,
    /// `ports:` on a cap (older capDL).
    CapPorts,
    /// `N k ports` object sizes (older capDL).
    PortsSize,
    /// The `cdt { }` section.
    CdtSection,
    /// The `domains { }` section.
    DomainsSection,
}

impl Unsupported {
    fn describe(self) -> &'static str {
        match self {
            Unsupported::ObjectArrays => "object arrays (`name[n]`)",
            Unsupported::QualifiedNames => "qualified names (`a/b`)",
            Unsupported::UntypedCovers => "objects declared inside an untyped",
            Unsupported::CapNames => "named caps (`name = ...`)",
            Unsupported::CapCopies => "cap copies (`<name>`)",
            Unsupported::CapParents => "cap derivation (`- child_of`)",
            Unsupported::MaskedRights => "masked rights",
            Unsupported::ReplyCaps => "reply caps",
            Unsupported::CapPorts => "`ports:` on caps (give the range on the io_ports object)",
            Unsupported::PortsSize => "`k ports` sizes (write `ports: [first..last]`)",
            Unsupported::CdtSection => "the `cdt` section",
            Unsupported::DomainsSection => "the `domains` section",
        }
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A character that starts no token.
    UnexpectedCharacter(char),
    /// A `/*` comment that never ends.
    UnterminatedComment,
    /// A number that does not fit in 64 bits.
    NumberTooLarge,
    /// Some other token than the grammar allows here.
    Unexpected {
        /// What the grammar allows here.
        expected: &'static str,
        /// What the input has.
        found: Found,
    },
    /// `arch` names an architecture other than x86_64.
    UnknownArch(String),
    /// A top-level word that starts no section.
    UnknownSection(String),
    /// An object type capDL (or this model) does not know.
    UnknownObjectType(String),
    /// An object or cap parameter this parser does not know.
    UnknownParam(String),
    /// A known parameter on an object type that does not take it.
    ParamNotAllowed {
        /// The declared type.
        object_type: ObjectType,
        /// The parameter.
        param: &'static str,
    },
    /// The same parameter twice.
    DuplicateParam(&'static str),
    /// A required parameter is missing (`cnode` needs `bits`...).
    MissingParam {
        /// The declared type.
        object_type: ObjectType,
        /// The missing parameter.
        param: &'static str,
    },
    /// A frame size x86_64 does not have, in bytes.
    BadFrameSize(u64),
    /// A value too large for its parameter.
    ValueTooLarge {
        /// The parameter.
        param: &'static str,
        /// The value given.
        value: u64,
    },
    /// An I/O port range that is empty or past port 0xffff.
    BadPortRange {
        /// First port given.
        first: u64,
        /// Last port given.
        last: u64,
    },
    /// A `name:` slot that is not one of the symbolic TCB slot names.
    UnknownSlotName(String),
    /// A construct this parser does not take.
    Unsupported(Unsupported),
    /// The text is well formed but describes an invalid spec (unknown
    /// object, slot filled twice, a cap where it cannot be...).
    Model(ModelError),
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::UnexpectedCharacter(c) => write!(f, "unexpected character `{c}`"),
            ParseErrorKind::UnterminatedComment => f.write_str("this `/*` comment is never closed"),
            ParseErrorKind::NumberTooLarge => f.write_str("number does not fit in 64 bits"),
            ParseErrorKind::Unexpected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ParseErrorKind::UnknownArch(a) => {
                write!(f, "architecture `{a}` is not supported (only `x86_64`)")
            }
            ParseErrorKind::UnknownSection(s) => write!(
                f,
                "`{s}` starts no section (expected `objects`, `caps` or `irq maps`)"
            ),
            ParseErrorKind::UnknownObjectType(t) => write!(f, "unknown object type `{t}`"),
            ParseErrorKind::UnknownParam(p) => write!(f, "unknown parameter `{p}`"),
            ParseErrorKind::ParamNotAllowed { object_type, param } => {
                write!(f, "a {object_type} takes no {param} parameter")
            }
            ParseErrorKind::DuplicateParam(p) => write!(f, "parameter {p} is given twice"),
            ParseErrorKind::MissingParam { object_type, param } => {
                write!(f, "a {object_type} needs a {param} parameter")
            }
            ParseErrorKind::BadFrameSize(b) => {
                write!(f, "x86_64 has no {b}-byte frames (use 4k, 2M or 1024M)")
            }
            ParseErrorKind::ValueTooLarge { param, value } => {
                write!(f, "{value} is too large for {param}")
            }
            ParseErrorKind::BadPortRange { first, last } => {
                write!(f, "bad I/O port range {first:#x}..{last:#x}")
            }
            ParseErrorKind::UnknownSlotName(s) => write!(f, "unknown slot name `{s}`"),
            ParseErrorKind::Unsupported(u) => {
                write!(f, "this parser does not support {}", u.describe())
            }
            ParseErrorKind::Model(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.kind
        )
    }
}

impl core::error::Error for ParseError {}
