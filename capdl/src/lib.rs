#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod cspace;
pub mod dot;
mod model;
pub mod parse;
mod print;
pub mod roles;
pub mod rules;
mod spec;
mod vspace;

pub use cspace::{FaultEndpoint, FaultEpSource};
pub use model::{
    is_identifier, Arch, Asid, Cap, FrameMapping, FrameSize, Object, ObjectKind, ObjectType,
    Rights, TcbAttrs, RESERVED_NAMES, SPECIAL_TARGETS,
};
pub use parse::{parse, Found, ParseError, ParseErrorKind, Unsupported};
pub use print::print;
pub use roles::Role;
pub use rules::{RuleConfig, RuleViolation};
pub use spec::{tcb_slot, CapParam, CapRef, ModelError, Spec, TABLE_ENTRIES};
pub use vspace::{Level, MapError, Mapping, USER_TOP};
