//! The trap handler: the only code that touches an application thread's
//! registers. A fault message from the kernel is decoded; a `ud2` (#UD) at
//! an address the loader rewrote from `syscall` is a system call, served
//! through the syscall table with the registers read by
//! `TCB_ReadRegisters` and written back by `TCB_WriteRegisters` (RIP + 2,
//! RAX = result, resume) — RSP is preserved, unlike with the `syscall`
//! instruction itself on this kernel. Anything else ends the job with a
//! report naming the signal, the address and the instruction pointer.

use crate::ctx::Ctx;
use crate::job::{Job, Outcome};
use crate::spawn;
use core::sync::atomic::{AtomicBool, Ordering};
use lwk_personality::syscall::{Args, Errno, JobFault, SysError};
use sel4::cap_type::Tcb;
use sel4::fault::Fault;
use sel4::{Cap, UserContext};

const SIGILL: i32 = 4;
const SIGFPE: i32 = 8;
const SIGSEGV: i32 = 11;
const SIGSYS: i32 = 31;
const SIGABRT: i32 = 6;
/// x86 exception vectors.
const VEC_DE: u64 = 0;
const VEC_UD: u64 = 6;

/// What the handler does after a fault.
pub enum Next {
    /// The thread was resumed.
    Resumed,
    /// The thread waits; its handler resumes it (see [`Blocked`]).
    Blocked(Blocked),
    /// The thread ended; the job goes on with its other threads.
    ThreadExited,
    /// The job ended.
    Ended(Outcome),
}

/// A thread stopped in a system call that returns later: a futex wait
/// (until a wake or the deadline) or a sleep (until the deadline).
pub struct Blocked {
    /// The registers to resume with, RIP already past the trap.
    pub regs: UserContext,
    /// TSC value at which the wait ends; `None`: only a wake ends it.
    pub deadline_tsc: Option<u64>,
    /// RAX when woken.
    pub on_wake: u64,
    /// RAX when the deadline passes.
    pub on_timeout: u64,
}

/// `-errno` as a register value.
fn neg(e: Errno) -> u64 {
    (-(e as i64)) as u64
}

/// Serves one fault of thread `thread` of `job`; `woken` are the job's
/// wake flags.
pub fn handle(job: &mut Job, thread: usize, woken: &[AtomicBool], fault: Fault) -> Next {
    let Some(tcb) = job.threads[thread].as_ref().map(|t| t.tcb) else {
        return Next::Ended(Outcome::Signaled {
            signal: SIGSYS,
            ip: 0,
            addr: thread as u64,
            what: "fault from a thread the job does not have",
        });
    };
    match fault {
        Fault::UserException {
            ip, number: VEC_UD, ..
        } if job.rewrite.is_rewritten(ip) => syscall(job, thread, tcb, woken),
        Fault::UserException {
            ip, number: VEC_UD, ..
        } => Next::Ended(Outcome::Signaled {
            signal: SIGILL,
            ip,
            addr: ip,
            what: "illegal instruction",
        }),
        Fault::UserException {
            ip, number: VEC_DE, ..
        } => Next::Ended(Outcome::Signaled {
            signal: SIGFPE,
            ip,
            addr: ip,
            what: "divide error",
        }),
        Fault::UserException {
            ip, number, code, ..
        } => Next::Ended(Outcome::Signaled {
            signal: SIGSEGV,
            ip,
            addr: code,
            what: if number == 13 {
                "general protection fault"
            } else {
                "CPU exception"
            },
        }),
        // 5.0 truncates the fault address to 32 bits (see SEL4-5.0-FACTS.md).
        Fault::VmFault { ip, addr, .. } => Next::Ended(Outcome::Signaled {
            signal: SIGSEGV,
            ip,
            addr,
            what: "page fault (address: low 32 bits)",
        }),
        Fault::UnknownSyscall { regs, .. } => Next::Ended(Outcome::Signaled {
            signal: SIGSYS,
            ip: regs.rip,
            addr: regs.rip,
            what: "unrewritten syscall instruction",
        }),
        Fault::CapFault { ip, .. } => Next::Ended(Outcome::Signaled {
            signal: SIGSYS,
            ip,
            addr: ip,
            what: "seL4 call from the application (unrewritten syscall with RDX in -8..-1)",
        }),
    }
}

fn syscall(job: &mut Job, thread: usize, tcb: Cap<Tcb>, woken: &[AtomicBool]) -> Next {
    let mut regs: UserContext = match tcb.tcb_read_registers(false, 0, UserContext::WORDS as u64) {
        Ok(r) => r,
        Err(_) => {
            return Next::Ended(Outcome::Signaled {
                signal: SIGSYS,
                ip: 0,
                addr: 0,
                what: "TCB_ReadRegisters failed",
            })
        }
    };
    job.syscalls += 1;
    let nr = regs.rax;
    let args = Args::new([regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9]);
    let mut dispatcher = core::mem::take(&mut job.dispatcher);
    let mut ctx = Ctx {
        job,
        regs: &mut regs,
        thread,
        woken,
        sleep: None,
    };
    let result = dispatcher.dispatch(&mut ctx, nr, args);
    let sleep = ctx.sleep;
    job.dispatcher = dispatcher;
    let rax = match result {
        Ok(v) => v,
        Err(SysError::Errno(e)) => neg(e),
        Err(SysError::Exit { status, group }) => {
            if group || job.live_threads() <= 1 {
                return Next::Ended(Outcome::Exited(status));
            }
            let _ = tcb.tcb_suspend();
            job.threads[thread] = None;
            return Next::ThreadExited;
        }
        Err(SysError::Kill(JobFault::Signal(signal))) => {
            return Next::Ended(Outcome::Signaled {
                signal,
                ip: regs.rip,
                addr: 0,
                what: "signal sent to itself",
            });
        }
        Err(SysError::Kill(JobFault::Mapping(_))) => {
            return Next::Ended(Outcome::Signaled {
                signal: SIGSEGV,
                ip: regs.rip,
                addr: nr,
                what: "the kernel refused a mapping change",
            });
        }
        Err(SysError::Kill(JobFault::Unsupported(_))) => {
            return Next::Ended(Outcome::Signaled {
                signal: SIGSYS,
                ip: regs.rip,
                addr: nr,
                what: "refused system call",
            });
        }
        Err(SysError::Block(b)) => {
            woken[thread].store(false, Ordering::Release);
            if b.deadline.is_none() {
                if let Some(t) = job.threads[thread].as_mut() {
                    t.blocked_untimed = true;
                }
                let all = job.threads.iter().flatten().all(|t| t.blocked_untimed);
                if all {
                    return Next::Ended(Outcome::Signaled {
                        signal: SIGABRT,
                        ip: regs.rip,
                        addr: nr,
                        what: "deadlock: every thread waits with no deadline",
                    });
                }
            }
            regs.rip += 2;
            return Next::Blocked(Blocked {
                regs,
                deadline_tsc: b.deadline.map(|d| job.clock.tsc_at(d)),
                on_wake: 0,
                on_timeout: neg(Errno::ETIMEDOUT),
            });
        }
        Err(SysError::Spawn(s)) => match spawn::thread(job, thread, &regs, woken, s) {
            Ok(tid) => tid as u64,
            Err(e) => neg(e),
        },
    };
    regs.rip += 2;
    if let (Some(d), true) = (sleep, rax == 0) {
        regs.rax = rax;
        return Next::Blocked(Blocked {
            regs,
            deadline_tsc: Some(job.clock.tsc_at(d)),
            on_wake: rax,
            on_timeout: rax,
        });
    }
    regs.rax = rax;
    resume(tcb, &regs)
}

/// Writes the registers back and restarts the thread.
pub fn resume(tcb: Cap<Tcb>, regs: &UserContext) -> Next {
    match tcb.tcb_write_registers(true, 0, UserContext::WORDS as u64, regs) {
        Ok(()) => Next::Resumed,
        Err(_) => Next::Ended(Outcome::Signaled {
            signal: SIGSYS,
            ip: regs.rip,
            addr: 0,
            what: "TCB_WriteRegisters failed",
        }),
    }
}
