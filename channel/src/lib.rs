//! The shared-memory channel between the LWK personality (on seL4) and the
//! Linux daemon that serves its I/O.
//!
//! Both QEMU guests map one 16 MiB ivshmem region of ordinary write-back RAM.
//! There are no doorbells: both sides poll. This crate is the protocol both
//! compile against: the layout and messages ([`wire`]), single-producer /
//! single-consumer rings over it, and the two ends built from them. It is
//! `no_std`, allocates nothing, and needs from its user only the mapping and
//! a [`Waiter`] (a clock and a way to pause).
//!
//! # Region layout (protocol [`VERSION`](wire::VERSION) 1)
//!
//! ```text
//! offset      size     contents                               written by
//! 0x000000    4 KiB    RegionHeader
//!   +0x000      32 B     magic, version, header/region/slot sizes  LWK (format)
//!   +0x020      96 B     RingDesc x4: the layout below             LWK (format)
//!   +0x080      64 B     SideState[Lwk]: state, generation, beat   LWK
//!   +0x0c0      64 B     SideState[Linux]                          Linux
//!   +0x100     512 B     RingControl x4: head | tail, 64 B apart   producer | consumer
//! 0x001000    8 KiB    ring 0 IoRequests slots: 64 x 128 B     LWK
//! 0x003000    4 KiB    ring 1 IoResponses slots: 64 x 64 B     Linux
//! 0x004000    4 KiB    ring 2 ControlRequests slots: 4 x 128 B Linux
//! 0x005000    4 KiB    ring 3 ControlResponses slots: 4 x 64 B LWK
//! 0x010000    4 MiB    ring 0 data: 64 x 64 KiB                LWK
//! 0x410000    4 MiB    ring 1 data: 64 x 64 KiB                Linux
//! 0x810000  256 KiB    ring 2 data: 4 x 64 KiB                 Linux
//! 0x850000  256 KiB    ring 3 data: 4 x 64 KiB                 LWK
//! 0x890000  7.4 MiB    reserved
//! ```
//!
//! Slot `i` of a ring owns data area `i`. The I/O pair carries forwarded
//! system calls (and job exit, console output) from the LWK to Linux and their
//! answers back; the control pair carries job starts from Linux to the LWK and
//! their answers back. Constants and sizes are in [`wire`] and checked at
//! compile time against [`REGION_SIZE`](wire::REGION_SIZE).
//!
//! # Ordering
//!
//! Per ring: the producer fills a slot (data, fields, stamp) and then stores
//! `head` with release; the consumer loads `head` with acquire, reads the slot,
//! then stores `tail` with release; the producer loads `tail` with acquire
//! before reusing a slot. Indices are free-running `u32`s masked by the
//! power-of-two slot count. The formatter stores `magic` last with release;
//! each side stores its `state` with release after its generation.
//!
//! # Trust
//!
//! Each side trusts nothing it reads from the other: indices, stamps, lengths,
//! offsets, opcodes, results and state words are validated before use, and a
//! bad value is a [`ChannelError`], never an out-of-bounds access, a panic or
//! an endless loop. All shared memory is accessed through atomics, so even a
//! peer that writes concurrently with our reads cannot cause undefined
//! behaviour. The only `unsafe` code is in `region.rs`.
//!
//! # Versioning and restarts
//!
//! A side refuses a region with another magic, version or layout. Each format
//! (LWK) or attach (Linux) bumps that side's generation; requests in flight
//! when the peer's generation changes fail with
//! [`ChannelError::PeerRestarted`]. See [`LwkEndpoint::format`] and
//! [`LinuxEndpoint::attach`].
//!
//! # Example
//!
//! ```
//! use channel::{Call, JobId, LinuxEndpoint, LwkEndpoint, Opcode, Region, Waiter};
//! use core::sync::atomic::AtomicU64;
//! use core::time::Duration;
//!
//! struct Spin(u64);
//! impl Waiter for Spin {
//!     fn now_ns(&self) -> u64 { self.0 }
//!     fn relax(&mut self, _round: u32) { self.0 += 1_000 }
//! }
//!
//! let mem: Vec<AtomicU64> = (0..channel::wire::REGION_SIZE / 8).map(|_| AtomicU64::new(0)).collect();
//! let region = Region::from_words(&mem)?;
//! let mut lwk = LwkEndpoint::format(region);
//! let mut linux = LinuxEndpoint::attach(region, &mut Spin(0), Duration::ZERO)?;
//!
//! let seq = lwk.io.send(Call::new(JobId(1), Opcode::Write).arg(0, 1), b"hello\n")?;
//! let incoming = linux.io.try_recv()?.expect("request");
//! let mut text = [0u8; 16];
//! let n = incoming.read_data(0, &mut text);
//! assert_eq!((incoming.request().seq, &text[..n]), (seq, &b"hello\n"[..]));
//! incoming.release();
//! linux.io.reply(seq, Ok(6), &[])?;
//!
//! let answer = lwk.io.try_recv()?.expect("response");
//! assert_eq!(answer.response().outcome(), Ok(6));
//! answer.release();
//! # Ok::<(), channel::ChannelError>(())
//! ```

#![no_std]
#![deny(unsafe_code)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

#[cfg(test)]
extern crate std;

mod endpoint;
mod error;
pub mod job;
#[allow(unsafe_code)]
mod region;
mod requester;
mod responder;
mod ring;
mod wait;
pub mod wire;

pub use endpoint::{LinuxEndpoint, Liveness, LwkEndpoint, PeerStatus};
pub use error::{ChannelError, LayoutField};
pub use region::Region;
pub use requester::{IncomingResponse, RequestWriter, Requester};
pub use responder::{IncomingRequest, ReplyWriter, Responder};
pub use wait::{backoff_ns, Waiter, SPIN_POLLS};
pub use wire::{Call, DataRange, Errno, JobId, Opcode, Request, Response};
