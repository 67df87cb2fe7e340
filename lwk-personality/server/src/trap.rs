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
use lwk_personality::syscall::{Args, JobFault, SysError};
use sel4::fault::Fault;
use sel4::UserContext;

const SIGILL: i32 = 4;
const SIGFPE: i32 = 8;
const SIGSEGV: i32 = 11;
const SIGSYS: i32 = 31;
/// x86 exception vectors.
const VEC_DE: u64 = 0;
const VEC_UD: u64 = 6;

/// What the handler does after a fault.
pub enum Next {
    /// The thread was resumed.
    Resumed,
    /// The job ended.
    Ended(Outcome),
}

/// Serves one fault of `job`.
pub fn handle(job: &mut Job, fault: Fault) -> Next {
    match fault {
        Fault::UserException {
            ip, number: VEC_UD, ..
        } if job.rewrite.is_rewritten(ip) => syscall(job),
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

fn syscall(job: &mut Job) -> Next {
    let tcb = job.space.tcb;
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
    let result = {
        let mut dispatcher = core::mem::take(&mut job.dispatcher);
        let r = dispatcher.dispatch(
            &mut Ctx {
                job,
                regs: &mut regs,
            },
            nr,
            args,
        );
        job.dispatcher = dispatcher;
        r
    };
    regs.rax = match result {
        Ok(v) => v,
        Err(SysError::Errno(e)) => (-(e as i64)) as u64,
        Err(SysError::Exit { status, .. }) => return Next::Ended(Outcome::Exited(status)),
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
        // A blocked thread with nobody to wake it (one thread per job so
        // far): a timed wait ends at its deadline, an untimed one never would.
        Err(SysError::Block(b)) => match b.deadline {
            Some(d) => {
                let tsc = job.clock.tsc_at(d);
                while sel4_root_task::time::rdtsc() < tsc {
                    core::hint::spin_loop();
                }
                (-(lwk_personality::syscall::Errno::ETIMEDOUT as i64)) as u64
            }
            None => {
                return Next::Ended(Outcome::Signaled {
                    signal: 6,
                    ip: regs.rip,
                    addr: nr,
                    what: "deadlock: untimed wait with no other thread",
                })
            }
        },
        // Threads are not started yet: say so, as Linux does when out of
        // threads.
        Err(SysError::Spawn(_)) => (-(lwk_personality::syscall::Errno::EAGAIN as i64)) as u64,
    };
    regs.rip += 2;
    match tcb.tcb_write_registers(true, 0, UserContext::WORDS as u64, &regs) {
        Ok(()) => Next::Resumed,
        Err(_) => Next::Ended(Outcome::Signaled {
            signal: SIGSYS,
            ip: regs.rip,
            addr: 0,
            what: "TCB_WriteRegisters failed",
        }),
    }
}
