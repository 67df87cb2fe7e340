//! Starting a thread of a job (`clone` with `CLONE_THREAD`): one thread per
//! application node, so the new thread goes to the first node of the job
//! with no thread, faulting to that node's handler; `EAGAIN` when every
//! node is taken, as Linux answers when out of threads.

use crate::app;
use crate::ctx::Ctx;
use crate::job::{Job, Thread};
use core::sync::atomic::{AtomicBool, Ordering};
use lwk_personality::syscall::{Errno, SpawnThread, ThreadId};
use sel4::UserContext;
use sel4_root_task::println;

/// Starts the thread `s` describes, cloned from thread `parent` stopped
/// with `regs` (RIP still at the trap); returns its thread id.
pub fn thread(
    job: &mut Job,
    parent: usize,
    regs: &UserContext,
    woken: &[AtomicBool],
    s: SpawnThread,
) -> Result<i32, Errno> {
    let limit = job.handlers.len().min(job.threads.len());
    let k = (0..limit)
        .find(|&k| job.threads[k].is_none())
        .ok_or(Errno::EAGAIN)?;
    let node = job.handlers[k].node;
    let tcb = app::create_thread(&mut job.backing.res.jobs, &job.space, k, node).map_err(|e| {
        println!("job {}: cannot make a thread on node {node}: {e}", job.id);
        Errno::EAGAIN
    })?;
    let mut child = *regs;
    child.rip += 2;
    child.rax = 0;
    if s.stack != 0 {
        child.rsp = s.stack;
    }
    if let Some(tls) = s.tls {
        child.tls_base = tls;
    }
    let tid = job.next_tid;
    job.next_tid += 1;
    // Both ids are stored before either thread runs again.
    let mut scratch = *regs;
    s.publish_tid(
        &mut Ctx {
            job,
            regs: &mut scratch,
            thread: parent,
            woken,
            sleep: None,
        },
        ThreadId(tid),
    );
    job.threads[k] = Some(Thread {
        tid,
        tcb,
        node,
        clear_child_tid: s.clear_child_tid().map_or(0, |a| a.0),
        robust_list: 0,
        start_tsc: sel4_root_task::time::rdtsc(),
        blocked_untimed: false,
    });
    woken[k].store(false, Ordering::Release);
    if let Err(e) = tcb.tcb_write_registers(true, 0, UserContext::WORDS as u64, &child) {
        println!("job {}: cannot start a thread on node {node}: {e}", job.id);
        job.threads[k] = None;
        return Err(Errno::EAGAIN);
    }
    Ok(tid)
}
