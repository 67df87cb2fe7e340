//! One thread on every other node: proves the kernel brought the cores up,
//! that threads can be pinned, and that `sel4-sync`'s mutex excludes
//! threads on different cores.
//!
//! Each thread shares the root task's VSpace and CSpace, runs on a static
//! stack, and uses a page of the root task's own image as IPC buffer (the
//! bootinfo lists the caps to those frames in address order).

use crate::RootTaskError;
use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::bootinfo::BootInfo;
use sel4::cap_type::{Notification, Page, Tcb};
use sel4::Context;
use sel4::{init_caps, sizes, Cap, CapData, ObjectType, PrioProps, UserContext};
use sel4_alloc::ObjectAllocator;
use sel4_root_task::println;
use sel4_root_task::time::Deadline;
use sel4_sync::Mutex;

const MAX_NODES: usize = 8;
const STACK_SIZE: usize = 64 * 1024;
/// Increments each participant makes under the mutex.
const ROUNDS: u64 = 2000;
/// Where the root task's image starts (link.ld, --defsym in build.rs).
const IMAGE_BASE: u64 = 0x40_0000;
/// How long a node may take to report (8 nodes under TCG are slow).
const REPORT_TIMEOUT_MS: u64 = 20_000;

#[repr(C, align(4096))]
struct Pages([[u8; 4096]; MAX_NODES]);
#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; MAX_NODES]);

static mut IPC_BUFFERS: Pages = Pages([[0; 4096]; MAX_NODES]);
static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_NODES]);

/// Node each thread found itself on, plus one (0 = not reported yet).
static REPORTED: [AtomicU64; MAX_NODES] = [const { AtomicU64::new(0) }; MAX_NODES];
/// Participants that finished their rounds.
static FINISHED: AtomicU64 = AtomicU64::new(0);

/// The counter the mutex test increments without atomics.
struct Shared {
    counter: u64,
}

/// Starts a thread on every node but 0, waits for each to report, checks
/// the mutex count; returns the number of nodes.
pub fn run_on_every_node(bi: &BootInfo, caps: &mut ObjectAllocator) -> Result<u64, RootTaskError> {
    let nodes = bi.num_nodes().min(MAX_NODES as u64);
    let ntfn: Cap<Notification> = caps.create(
        ObjectType::Notification,
        sizes::NOTIFICATION_BITS as u8,
        &mut (),
    )?;
    let shared: &'static Mutex<Shared> =
        Box::leak(Box::new(Mutex::new(ntfn, Shared { counter: 0 })));
    println!("node 0: root task (apic {})", apic_id());

    for node in 1..nodes {
        let tcb: Cap<Tcb> = caps.create(ObjectType::Tcb, sizes::TCB_BITS as u8, &mut ())?;
        let i = node as usize;
        let ipc_vaddr = (&raw const IPC_BUFFERS) as u64 + (i * 4096) as u64;
        let ipc_frame: Cap<Page> =
            Cap::from_bits(bi.user_image_frames().start + (ipc_vaddr - IMAGE_BASE) / 4096);
        tcb.tcb_configure(
            0, // no fault endpoint: a fault would only stop this thread
            PrioProps::new(254, 254),
            init_caps::CNODE,
            CapData::none(),
            init_caps::VSPACE.cast(),
            CapData::none(),
            ipc_vaddr,
            ipc_frame.upcast(),
        )
        .context("TCB_Configure")?;
        sel4::set_affinity(tcb, node).context("TCB_SetAffinity")?;
        let stack_top = (&raw const STACKS) as u64 + ((i + 1) * STACK_SIZE) as u64;
        let regs = UserContext {
            rip: node_main as *const () as u64,
            // SysV: at function entry RSP + 8 is 16-byte aligned.
            rsp: stack_top - 8,
            rdi: node,
            rsi: tcb.bits(),
            rdx: shared as *const Mutex<Shared> as u64,
            rflags: 0x202,
            ..UserContext::default()
        };
        tcb.tcb_write_registers(true, 0, UserContext::WORDS as u64, &regs)
            .context("TCB_WriteRegisters")?;
    }

    hammer(shared);
    let deadline = Deadline::after_ms(REPORT_TIMEOUT_MS);
    for node in 1..nodes {
        loop {
            let r = REPORTED[node as usize].load(Ordering::Acquire);
            if r != 0 {
                if r - 1 != node {
                    return Err(RootTaskError::WrongNode {
                        expected: node,
                        got: r - 1,
                    });
                }
                break;
            }
            if deadline.expired() {
                return Err(RootTaskError::NodeTimeout(node));
            }
            sel4::yield_now();
        }
    }
    while FINISHED.load(Ordering::Acquire) < nodes {
        if deadline.expired() {
            return Err(RootTaskError::NodeTimeout(FINISHED.load(Ordering::Relaxed)));
        }
        sel4::yield_now();
    }
    let total = shared.lock().counter;
    println!(
        "sel4-sync: mutex counter={total} expected={} ({} participants x {ROUNDS})",
        nodes * ROUNDS,
        nodes
    );
    if total != nodes * ROUNDS {
        return Err(RootTaskError::MutexBroken {
            counted: total,
            expected: nodes * ROUNDS,
        });
    }
    Ok(nodes)
}

/// Non-atomic read-modify-write under the mutex: any overlap loses counts.
fn hammer(shared: &Mutex<Shared>) {
    for _ in 0..ROUNDS {
        let mut g = shared.lock();
        let v = core::hint::black_box(g.counter);
        core::hint::spin_loop();
        g.counter = v + 1;
    }
    FINISHED.fetch_add(1, Ordering::AcqRel);
}

/// The initial APIC id of the executing core (CPUID leaf 1, EBX[31:24]);
/// QEMU numbers them like seL4's nodes.
fn apic_id() -> u64 {
    // cpuid is unprivileged and has no side effects.
    let r = core::arch::x86_64::__cpuid(1);
    (r.ebx >> 24) as u64
}

extern "C" fn node_main(node: u64, tcb: u64, shared: u64) -> ! {
    let here = apic_id();
    println!("node {node}: thread ran on node {here}");
    REPORTED[node as usize].store(here + 1, Ordering::Release);
    // SAFETY: `shared` is the address of the leaked, never-freed mutex
    // passed by `run_on_every_node`.
    let shared = unsafe { &*(shared as *const Mutex<Shared>) };
    hammer(shared);
    let _ = Cap::<Tcb>::from_bits(tcb).tcb_suspend();
    sel4_root_task::park()
}
