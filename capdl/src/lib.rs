//! capDL for the LWK personality on seL4 5.0 (x86_64): a model of the
//! objects and caps the root task creates, a printer and a parser for the
//! capDL text language as seL4's capDL-tool reads it, the design rules of
//! `ARCHITECTURE.md` as checks over a spec, and Graphviz output.
//!
//! The root task records what it builds into a [`Spec`] and prints it
//! ([`print()`]) between markers on the console; the host (xtask) parses that
//! text back ([`parse()`]), checks it ([`rules::check_all`]) and draws it
//! ([`dot::render`]). The model and the printer need only `alloc`, so the
//! root task uses this crate with `default-features = false`; in fact the
//! whole crate builds that way, and the `std` feature (on by default) only
//! marks host use.
//!
//! # Public API
//! - [`Spec`]: [`Spec::add_object`], [`Spec::insert_cap`] (refuses what
//!   capDL-tool would refuse), [`Spec::map`] (places a table or frame cap at
//!   the right page-table entry for a virtual address), [`Spec::map_irq`];
//!   queries such as [`Spec::mappings_in`], [`Spec::translate`],
//!   [`Spec::held_caps`], [`Spec::resolve_cptr`], [`Spec::fault_endpoint`],
//!   [`Spec::threads`].
//! - [`parse()`] → `Result<Spec, ParseError>`; [`ParseError`] has `line`,
//!   `column` and a [`ParseErrorKind`].
//! - [`print()`] or `spec.to_string()`.
//! - [`rules::check_all`]`(&spec, &RuleConfig)` → `Vec<RuleViolation>`, one
//!   function per rule in [`rules`], and [`rules::report`] for a summary
//!   including the large-frame share of the pool.
//! - [`dot::render`]`(&spec)` → Graphviz text.
//!
//! # The text format
//! ```text
//! arch x86_64                          -- `--` starts a line comment
//!
//! objects {                            /* block comments nest */
//!     pers_tcb = tcb (addr: 0x7000, ip: 0x401000, sp: 0x8000, prio: 254, affinity: 0)
//!     pers_cnode = cnode (10 bits)
//!     pers_pml4 = pml4
//!     pers_pdpt = pdpt
//!     pers_pd = pd
//!     pool_0 = frame (2M, paddr: 0x40000000)
//!     big = frame (1024M)              -- 1 GiB: capDL-tool knows only k and M
//!     ut_0 = ut (21 bits, paddr: 0x200000)
//!     serial = io_ports (ports: [0x3f8..0x3ff])
//!     irq_4 = irq
//!     fault_ep_1 = ep
//! }
//!
//! caps {
//!     pers_tcb {
//!         cspace: pers_cnode (guard: 0, guard_size: 54)
//!         vspace: pers_pml4
//!     }
//!     pers_cnode {
//!         1: fault_ep_1 (RWG, badge: 1)
//!         2: pool_0 (RW, mapping: (pers_pd, 0))
//!         3: serial
//!         4: irq_control
//!     }
//!     pers_pml4 { 0: pers_pdpt }       -- mappings are caps in page tables,
//!     pers_pdpt { 1: pers_pd }         -- indexed by the address bits of
//!     pers_pd { 0: pool_0 (RW) }       -- each level: 0x40000000 here
//! }
//!
//! irq maps {
//!     4: irq_4
//! }
//! ```
//! The slot before `:` may be left out (one past the previous entry, from
//! 0); TCB slots have the names `cspace`, `vspace`, `reply_slot`,
//! `caller_slot`, `ipc_buffer_slot`, `fault_ep_slot`, `sc_slot` and
//! `temp_fault_ep_slot`. Cap parameters: rights (any of `R`, `W`, `G`, `X`),
//! `badge:`, `guard:`, `guard_size:`, `asid: (pool, index)`,
//! `cached`/`uncached`, `mapping: (table, slot)`. Numbers are decimal, `0x`
//! hex or `0o` octal. Object arrays, qualified names, untyped covering sets,
//! named and copied caps, `masked`, reply caps and the `cdt`/`domains`
//! sections are refused with [`Unsupported`]. `frame (1G)` is read as a
//! synonym of `1024M`. The printer writes every parameter it has; note that
//! capDL-tool itself accepts TCB `addr`/`ip`/`sp`/`prio`/`affinity` only in
//! the combinations `addr+ip+sp+prio+affinity` and `addr+affinity`, and
//! reads `X` as `G`.
//!
//! # Naming convention (roles)
//! capDL has no notion of component, so roles come from TCB names:
//!
//! | name | meaning |
//! |---|---|
//! | `root`, `root_…` | the root task |
//! | `pers`, `pers_…` | the LWK personality server (any of its threads) |
//! | `handler_<k>`, `handler_<k>_…` | the fault handler of application core `<k>` |
//! | `app_<k>`, `app_<k>_…` | the application thread on core `<k>` |
//! | `ivshmem`, `ivshmem_…` (frames) | the buffer shared with the Linux VM |
//! | `pool_…` (frames) | the LWK memory pool |
//!
//! `<k>` is the text after the prefix up to the next `_` (`app_3_tcb` →
//! `3`); `handler_<k>` serves `app_<k>`. A thread's CSpace and VSpace are
//! whatever its TCB's `cspace` and `vspace` slots name, so other objects may
//! be named freely; using the same prefixes (`app_3_cnode`) only groups them
//! in the graph. See [`roles`] and, for what the rules check, [`rules`].
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
