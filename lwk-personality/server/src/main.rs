//! The LWK personality server, started by the root task in its own VSpace
//! and CSpace. Reads as its start-up sequence: trust the handoff record →
//! console and time → direct map of the memory pool → shared buffer →
//! start the fault-handler thread of every application node → ready.

#![no_std]
#![no_main]

extern crate alloc;

mod app;
mod backing;
mod ctx;
mod directmap;
mod error;
mod fwcfg;
mod handlers;
mod job;
mod jobchan;
mod jobs;
mod link;
mod pool;
mod runner;
mod spawn;
mod trap;
mod vmjobs;

use lwk_handoff::{slots, Handoff, HANDOFF_VADDR};
use sel4::Cap;
use sel4_root_task::{println, Never};

sel4_root_task::declare_component!(main);

pub use error::PersonalityError;

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
    let mut pool = pool::Pool::new(h);
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
    let mut res = runner::lend(&mut alloc, &mut pool)?;
    jobs::run_standalone(h, &mut res)?;
    match ivshmem {
        Some((_, bytes)) => vmjobs::serve(h, &mut res, bytes)?,
        None => println!("personality: no shared buffer: no jobs from a Linux VM"),
    }
    sel4_root_task::park()
}
