//! The LWK personality's host-testable core.
//!
//! This crate is linked into a freestanding seL4 binary (host target, no
//! libc), hence `no_std` + `alloc` outside tests; every dependency is `no_std`
//! with default features off. All logic that does not touch seL4 lives here so
//! that it runs under `cargo test` on the host, in the spirit of Hubris's
//! `kerncore`.
//!
//! Module map: see `README.md` next to `Cargo.toml`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod fd;
pub mod futex;
pub mod loader;
pub mod mm;
pub mod syscall;
