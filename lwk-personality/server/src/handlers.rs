//! One fault-handler thread per application node, pinned by the root task
//! to that node (a fault then needs no cross-core IPI). Each serves the
//! system calls and faults of the application thread on its node (see
//! `job.rs` for the ownership protocol, `trap.rs` for the faults), and
//! waits on its node while that thread is blocked in a futex wait or a
//! sleep.

use crate::job::{JobCell, Outcome, Slot, SLOTS};
use crate::trap::{self, Blocked, Next};
use crate::PersonalityError;
use core::sync::atomic::{AtomicU64, Ordering};
use lwk_handoff::{Handoff, MAX_NODES};
use lwk_personality::syscall::ThreadId;
use sel4::cap_type::{Endpoint, Tcb};
use sel4::fault::{Fault, UnknownFault};
use sel4::Context;
use sel4::{Cap, UserContext};
use sel4_root_task::println;
use sel4_root_task::time::Deadline;

const STACK_SIZE: usize = 64 * 1024;
const START_TIMEOUT_MS: u64 = 20_000;

#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; MAX_NODES]);
static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_NODES]);

/// Node each handler found itself on, plus one (0 = not started).
static STARTED_ON: [AtomicU64; MAX_NODES] = [const { AtomicU64::new(0) }; MAX_NODES];

/// Starts every handler and waits (bounded) until each has reported.
pub fn start_all(h: &Handoff) -> Result<(), PersonalityError> {
    for (i, hd) in h.handlers().iter().enumerate() {
        let stack_top = (&raw const STACKS) as u64 + ((i + 1) * STACK_SIZE) as u64;
        let regs = UserContext {
            rip: handler_main as *const () as u64,
            rsp: stack_top - 8,
            rdi: i as u64,
            rsi: hd.node,
            rdx: hd.fault_ep,
            rflags: 0x202,
            ..UserContext::default()
        };
        Cap::<Tcb>::from_bits(hd.tcb)
            .tcb_write_registers(true, 0, UserContext::WORDS as u64, &regs)
            .context("TCB_WriteRegisters (handler)")?;
    }
    let deadline = Deadline::after_ms(START_TIMEOUT_MS);
    for (i, hd) in h.handlers().iter().enumerate() {
        while STARTED_ON[i].load(Ordering::Acquire) == 0 {
            if deadline.expired() {
                return Err(PersonalityError::HandlerTimeout { node: hd.node });
            }
            sel4::yield_now();
        }
    }
    Ok(())
}

/// The initial APIC id of the executing core (QEMU numbers them like
/// seL4's nodes).
fn current_node() -> u64 {
    (core::arch::x86_64::__cpuid(1).ebx >> 24) as u64
}

extern "C" fn handler_main(index: u64, node: u64, fault_ep: u64) -> ! {
    let here = current_node();
    println!("handler {index}: for node {node}, running on node {here}");
    STARTED_ON[index as usize].store(here + 1, Ordering::Release);
    let ep = Cap::<Endpoint>::from_bits(fault_ep);
    let k = index as usize;
    let slot = &SLOTS[k];
    loop {
        let mut mrs = [0; 4];
        let (info, badge) = sel4::recv(ep, &mut mrs);
        let Some(cell) = slot.get() else {
            println!(
                "handler {index}: message label {} badge {badge} with no job running",
                info.label()
            );
            continue;
        };
        if !cell.enter(slot) {
            continue;
        }
        serve(cell, slot, k, info.label(), badge, &mrs);
        cell.leave();
    }
}

/// Serves one fault message of the thread on this handler's node.
fn serve(cell: &JobCell, slot: &Slot, k: usize, label: u64, badge: u64, mrs: &[u64; 4]) {
    let mut job = cell.lock();
    if job.outcome.is_some() {
        // Another thread ended the job meanwhile; this one is suspended.
        return;
    }
    if badge != job.id {
        println!("handler {k}: fault badge {badge} is not job {}", job.id);
        return;
    }
    let next = match Fault::decode(label, |i| sel4::ipc::received_mr(mrs, i)) {
        Ok(fault) => trap::handle(&mut job, k, &cell.woken, fault),
        Err(UnknownFault(label)) => Next::Ended(Outcome::Signaled {
            signal: 31,
            ip: 0,
            addr: label,
            what: "unknown fault type",
        }),
    };
    match next {
        Next::Resumed | Next::ThreadExited => {}
        Next::Ended(outcome) => {
            job.end(outcome);
            drop(job);
            cell.finish();
        }
        Next::Blocked(b) => {
            drop(job);
            wait_blocked(cell, slot, k, b);
        }
    }
}

/// Waits, with the job's lock released, until thread `k`'s wait ends: a
/// wake (flag set by the waker), the deadline, or the end of the job. The
/// node is the thread's alone, so the handler polls on it.
fn wait_blocked(cell: &JobCell, slot: &Slot, k: usize, mut b: Blocked) {
    loop {
        if cell.is_done() || !slot.holds(cell) {
            return;
        }
        let woken = cell.woken[k].load(Ordering::Acquire);
        let expired = b
            .deadline_tsc
            .is_some_and(|d| sel4_root_task::time::rdtsc() >= d);
        if woken || expired {
            let mut job = cell.lock();
            if job.outcome.is_some() {
                return;
            }
            let Some(t) = job.threads[k].as_mut() else {
                return;
            };
            let tid = ThreadId(t.tid);
            let tcb = t.tcb;
            // A wake that raced with the deadline wins, as on Linux.
            b.regs.rax = if cell.woken[k].swap(false, Ordering::AcqRel) {
                b.on_wake
            } else {
                job.futexes.cancel(tid);
                b.on_timeout
            };
            if let Next::Ended(outcome) = trap::resume(tcb, &b.regs) {
                job.end(outcome);
                drop(job);
                cell.finish();
            }
            return;
        }
        for _ in 0..64 {
            core::hint::spin_loop();
        }
    }
}
