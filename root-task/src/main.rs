//! The LWK's seL4 root task. Reads as the boot sequence:
//! banner → bootinfo summary → PCI scan → one thread per other node →
//! success line. Later steps (carving, building the personality server)
//! extend this sequence.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

mod capdl_out;
mod carve;
mod image;
mod ivshmem;
mod pci;
mod personality;
mod record;
mod smp;
mod snapshot;
mod summary;

use sel4::bootinfo::BootInfo;
use sel4_root_task::{println, Never};

sel4_root_task::declare_root_task!(main);

/// Everything that can stop the root task.
#[derive(Debug)]
pub enum RootTaskError {
    /// An invocation failed.
    Sel4 {
        what: &'static str,
        err: sel4::Error,
    },
    /// No free slot or untyped memory left for an object.
    Alloc(sel4_alloc::AllocError),
    /// Threads on different nodes updated the shared counter concurrently.
    MutexBroken { counted: u64, expected: u64 },
    /// A node's thread did not report within its deadline.
    NodeTimeout(u64),
    /// A thread reported from a different node than it was pinned to.
    WrongNode { expected: u64, got: u64 },
    /// The carving plan failed (e.g. too little memory).
    Plan(carve_plan::PlanError),
    /// The embedded personality ELF was refused.
    Elf(lwk_personality::loader::elf::ElfError),
    /// The personality image or handoff does not fit the layout.
    ImageLayout(&'static str),
    /// A mapping failed.
    Map(sel4_alloc::MapError),
}

impl core::fmt::Display for RootTaskError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RootTaskError::Sel4 { what, err } => write!(f, "{what}: {err}"),
            RootTaskError::Alloc(e) => write!(f, "{e}"),
            RootTaskError::MutexBroken { counted, expected } => {
                write!(
                    f,
                    "sel4-sync mutex lost updates: counted {counted}, expected {expected}"
                )
            }
            RootTaskError::NodeTimeout(n) => write!(f, "node {n} did not report in time"),
            RootTaskError::WrongNode { expected, got } => {
                write!(f, "thread for node {expected} ran on node {got}")
            }
            RootTaskError::Plan(e) => write!(f, "carving plan: {e}"),
            RootTaskError::Elf(e) => write!(f, "personality image: {e}"),
            RootTaskError::ImageLayout(what) => write!(f, "personality layout: {what}"),
            RootTaskError::Map(e) => write!(f, "{e}"),
        }
    }
}

impl From<sel4_alloc::AllocError> for RootTaskError {
    fn from(e: sel4_alloc::AllocError) -> Self {
        RootTaskError::Alloc(e)
    }
}

impl From<sel4_alloc::MapError> for RootTaskError {
    fn from(e: sel4_alloc::MapError) -> Self {
        RootTaskError::Map(e)
    }
}

impl From<sel4::Failed> for RootTaskError {
    fn from(f: sel4::Failed) -> Self {
        RootTaskError::Sel4 {
            what: f.what,
            err: f.err,
        }
    }
}

fn main(bi: &BootInfo<'static>) -> Result<Never, RootTaskError> {
    let start = sel4_root_task::time::rdtsc();
    // The firmware may have left the cursor mid-line ("Booting from ROM..").
    println!();
    println!(
        "LWK root task: seL4 5.0.0 x86_64, {} kernel ({}), {} node(s) configured",
        if sel4::config::DEBUG_BUILD {
            "debug"
        } else {
            "release"
        },
        env!("LWK_VARIANT"),
        sel4::config::MAX_NUM_NODES
    );
    summary::print(bi);
    let devices = pci::scan_bus0(sel4::init_caps::IO_PORT);
    pci::print(&devices);

    // Carve RAM first: the plan needs every RAM untyped untouched.
    let plan = carve::plan(bi)?;
    println!("{plan}");
    let mut slots = sel4_alloc::ObjectAllocator::new(
        sel4::init_caps::CNODE,
        bi.empty().start,
        bi.empty().end,
        Vec::new(),
    );
    let carved = carve::execute(bi, plan, &mut slots)?;
    let mut rec = record::Record::default();
    carve::record(&carved, &mut rec);
    let window = match ivshmem::carve(bi, sel4::init_caps::IO_PORT, &devices, &mut slots)? {
        Ok(w) => {
            println!(
                "ivshmem: BAR2 at {:#x}, {} MiB, {} frames of 2 MiB",
                w.paddr,
                w.bytes >> 20,
                w.count
            );
            Some(w)
        }
        Err(problem) => {
            println!("ivshmem: {problem}; the system runs without the shared buffer");
            None
        }
    };
    if let Some(w) = window {
        for i in 0..w.count {
            rec.object(
                w.first_cap + i,
                sel4::ObjectType::LargePage,
                21,
                w.paddr + (i << 21),
            );
            rec.name(w.first_cap + i, "ivshmem");
        }
    }

    // Split the reserve: the personality gets whole untypeds of its own
    // (a used untyped cannot be handed on), the root task keeps the rest.
    let (root_regions, pers_regions) = carve::split_reserve(&carved.reserve);
    let (first, end) = slots.free_slots();
    let mut objs =
        sel4_alloc::ObjectAllocator::new(sel4::init_caps::CNODE, first, end, root_regions);

    let nodes = smp::run_on_every_node(bi, &mut objs)?;
    let started = personality::build(
        bi.num_nodes(),
        bi.tsc_mhz(),
        &carved,
        window,
        &mut objs,
        &pers_regions,
        &mut rec,
    )?;
    println!(
        "personality: loaded {} pages, entry {:#x}; {} handler thread(s); {} pool frame caps; {} KiB of reserve handed over",
        started.image_pages,
        started.entry,
        started.handlers,
        started.pool_caps,
        started.reserve_given >> 10
    );
    let image_bytes = bi.user_image_frames().len() * 4096;
    let t = &carved.plan.totals;
    let overhead = t.reserve_bytes + t.unusable.total() + image_bytes;
    let ram = t.ram_bytes + image_bytes;
    println!(
        "overhead: root task image {} KiB + reserve {} KiB + unusable {} KiB = {} KiB of {} MiB RAM ({}.{:02}%, budget 3%)",
        image_bytes >> 10,
        t.reserve_bytes >> 10,
        t.unusable.total() >> 10,
        overhead >> 10,
        ram >> 20,
        overhead * 100 / ram,
        overhead * 10000 / ram % 100
    );
    rec.print_summary();
    rec.print_listing();
    // A spec that cannot be built is a bug in the record, reported for the
    // verifier; the system is already running and stays up.
    if let Err(e) = capdl_out::print(&rec) {
        println!("CAPDL-ERROR {e}");
    }
    // The kernel's own view of what was just described, when asked for
    // (debug kernels only; see snapshot.rs).
    snapshot::take_if_requested(sel4::init_caps::IO_PORT);
    let elapsed_us = (sel4_root_task::time::rdtsc() - start) / sel4_root_task::time::tsc_mhz();
    println!(
        "ROOT-TASK-OK nodes={nodes} pci_devices={} pool_mib={} boot_work_us={elapsed_us}",
        devices.len(),
        t.pool_bytes() >> 20
    );
    // Handed over: the root task does no more work.
    sel4_root_task::park()
}
