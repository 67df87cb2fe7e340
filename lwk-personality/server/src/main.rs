//! The LWK personality server, started by the root task in its own VSpace
//! and CSpace. Reads as its start-up sequence: trust the handoff record →
//! console and time → direct map of the memory pool → shared buffer →
//! start the fault-handler thread of every application node → ready.

#![no_std]
#![no_main]

extern crate alloc;

mod directmap;
mod handlers;

use lwk_handoff::{slots, Handoff, HandoffError, HANDOFF_VADDR};
use sel4::Cap;
use sel4_root_task::{println, Never};

sel4_root_task::declare_component!(main);

/// What stops the personality at start-up.
#[derive(Debug)]
pub enum PersonalityError {
    Handoff(HandoffError),
    /// The start argument is not the handoff address.
    BadStartArg(u64),
    Alloc(sel4_alloc::AllocError),
    Map(sel4_alloc::MapError),
    Sel4 {
        what: &'static str,
        err: sel4::Error,
    },
    /// A frame written through the direct map read back differently
    /// through a second mapping of the same frame.
    DirectMapMismatch {
        paddr: u64,
    },
    /// A handler thread did not report in time.
    HandlerTimeout {
        node: u64,
    },
}

impl core::fmt::Display for PersonalityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PersonalityError::Handoff(e) => write!(f, "{e}"),
            PersonalityError::BadStartArg(a) => write!(
                f,
                "started with {a:#x}, expected the handoff at {HANDOFF_VADDR:#x}"
            ),
            PersonalityError::Alloc(e) => write!(f, "{e}"),
            PersonalityError::Map(e) => write!(f, "{e}"),
            PersonalityError::Sel4 { what, err } => write!(f, "{what}: {err}"),
            PersonalityError::DirectMapMismatch { paddr } => {
                write!(f, "direct map of frame {paddr:#x} does not read back")
            }
            PersonalityError::HandlerTimeout { node } => {
                write!(f, "handler for node {node} did not start in time")
            }
        }
    }
}

impl From<sel4_alloc::AllocError> for PersonalityError {
    fn from(e: sel4_alloc::AllocError) -> Self {
        PersonalityError::Alloc(e)
    }
}
impl From<sel4_alloc::MapError> for PersonalityError {
    fn from(e: sel4_alloc::MapError) -> Self {
        PersonalityError::Map(e)
    }
}

/// Attaches a description to an seL4 error.
pub trait Context<T> {
    fn context(self, what: &'static str) -> Result<T, PersonalityError>;
}
impl<T> Context<T> for sel4::Result<T> {
    fn context(self, what: &'static str) -> Result<T, PersonalityError> {
        self.map_err(|err| PersonalityError::Sel4 { what, err })
    }
}

fn main(arg: u64) -> Result<Never, PersonalityError> {
    // The console cap is at a fixed slot, so errors can be printed even
    // when the record is bad.
    sel4_root_task::console::use_io_port(Cap::from_bits(slots::CONSOLE_PORT));
    if arg != HANDOFF_VADDR {
        return Err(PersonalityError::BadStartArg(arg));
    }
    // SAFETY: the root task maps HANDOFF_PAGES read-only frames holding a
    // `Handoff` at HANDOFF_VADDR before starting this thread, and never
    // changes them; `validate` below checks the contents before use.
    let h: &'static Handoff = unsafe { &*(HANDOFF_VADDR as *const Handoff) };
    h.validate().map_err(PersonalityError::Handoff)?;
    sel4_root_task::time::init_mhz(h.tsc_mhz);

    let mb = |b: u64| b >> 20;
    println!(
        "personality: started in its own VSpace; nodes={} handlers={} tsc_mhz={}",
        h.num_nodes, h.num_handlers, h.tsc_mhz
    );
    println!(
        "personality: pool 1G frames={} ({} MiB), 2M frames={} ({} MiB); overhead {} MiB of {} MiB RAM",
        h.pool_bytes(30) >> 30,
        mb(h.pool_bytes(30)),
        h.pool_bytes(21) >> 21,
        mb(h.pool_bytes(21)),
        mb(h.overhead_bytes),
        mb(h.ram_bytes)
    );

    let mut alloc = directmap::allocator(h);
    let dm = directmap::map_pool(h, &mut alloc)?;
    println!(
        "personality: direct map of {} MiB at {:#x} ({} paging structures); write/read-back through a second mapping ok",
        mb(dm.bytes),
        lwk_handoff::DIRECT_MAP_BASE,
        dm.structures
    );
    let ivshmem = directmap::map_ivshmem(h, &mut alloc)?;
    match ivshmem {
        Some((paddr, bytes)) => println!(
            "personality: ivshmem window {} MiB at paddr {paddr:#x} mapped at {:#x}",
            mb(bytes),
            lwk_handoff::IVSHMEM_VADDR
        ),
        None => println!("personality: no ivshmem device: I/O shipping unavailable"),
    }
    handlers::start_all(h)?;
    println!(
        "PERSONALITY-OK nodes={} handlers={} pool_mib={} ivshmem={}",
        h.num_nodes,
        h.num_handlers,
        mb(h.pool_bytes(30) + h.pool_bytes(21)),
        if ivshmem.is_some() {
            "present"
        } else {
            "absent"
        }
    );
    sel4_root_task::park()
}
