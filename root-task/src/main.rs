//! The LWK's seL4 root task. Reads as the boot sequence:
//! banner → bootinfo summary → PCI scan → one thread per other node →
//! success line. Later steps (carving, building the personality server)
//! extend this sequence.

#![no_std]
#![no_main]

extern crate alloc;

mod pci;
mod smp;
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
        }
    }
}

impl From<sel4_alloc::AllocError> for RootTaskError {
    fn from(e: sel4_alloc::AllocError) -> Self {
        RootTaskError::Alloc(e)
    }
}

/// Attaches a description to an seL4 error.
pub trait Context<T> {
    fn context(self, what: &'static str) -> Result<T, RootTaskError>;
}

impl<T> Context<T> for sel4::Result<T> {
    fn context(self, what: &'static str) -> Result<T, RootTaskError> {
        self.map_err(|err| RootTaskError::Sel4 { what, err })
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

    let mut caps = ram_allocator(bi);
    let nodes = smp::run_on_every_node(bi, &mut caps)?;
    let elapsed_us = (sel4_root_task::time::rdtsc() - start) / sel4_root_task::time::tsc_mhz();
    println!(
        "ROOT-TASK-OK nodes={nodes} pci_devices={} boot_work_us={elapsed_us}",
        devices.len()
    );
    sel4_root_task::park()
}

/// An allocator over the empty slots of the root CNode and every RAM
/// untyped (smallest first, so large ones stay whole).
fn ram_allocator(bi: &BootInfo) -> sel4_alloc::ObjectAllocator {
    let regions = bi
        .untyped_list()
        .filter(|u| !u.is_device)
        .map(|u| sel4_alloc::UntypedRegion {
            cap: sel4::Cap::from_bits(u.cap),
            paddr: u.paddr,
            size_bits: u.size_bits,
            used: 0,
        })
        .collect();
    sel4_alloc::ObjectAllocator::new(
        sel4::init_caps::CNODE,
        bi.empty().start,
        bi.empty().end,
        regions,
    )
}
