//! Standalone mode: run the programs of the job pack one after another.
//!
//! For each job: parse the ELF (refused with a clear error if dynamic or
//! malformed), rewrite `syscall` into `ud2`, build the job's spaces and
//! first thread on the first application node (more come with `clone`,
//! one per node), map its image and an 8 MiB stack
//! from the pool, build the Linux initial stack, hand the job to that
//! node's handler and start it; wait (bounded) for it to end; print one
//! machine-readable line with its exit status or signal; tear it down.

use crate::app;
use crate::backing::{JobBacking, Resources};
use crate::ctx::copy_user;
use crate::fwcfg::{FwCfg, FwCfgError};
use crate::job::{Job, JobCell, Outcome, Thread, SLOTS};
use crate::jobchan::JobChannel;
use crate::jobchan::StdinReader;
use crate::pool::Pool;
use crate::PersonalityError;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use lwk_handoff::{slots, Handoff};
use lwk_personality::futex::FutexTable;
use lwk_personality::loader::{elf, rewrite, stack};
use lwk_personality::mm::{Access, AddressSpace, Layout};
use lwk_personality::syscall::process::Rlimits;
use lwk_personality::syscall::time::TscClock;
use lwk_personality::syscall::Dispatcher;
use sel4::{Cap, Context, UserContext};
use sel4_alloc::ObjectAllocator;
use sel4_root_task::println;
use sel4_root_task::time::Deadline;

/// A job may run this long before it is killed.
const JOB_TIMEOUT_MS: u64 = 600_000;
/// Slots reserved for the kernel objects of one job at a time.
const JOB_SLOTS: u64 = 4096;

/// A job's description, copied out of the pack.
struct Spec {
    path: Vec<u8>,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    flags: u32,
    exe_at: usize,
    exe_len: usize,
}

/// Runs every job of the pack, if there is one.
pub fn run_standalone(
    h: &'static Handoff,
    alloc: &mut ObjectAllocator,
    pool: &mut Pool,
) -> Result<(), PersonalityError> {
    let fw = match FwCfg::open(Cap::from_bits(slots::FW_CFG_PORT)) {
        Ok(fw) => fw,
        Err(e) => {
            println!("personality: {e}; no standalone jobs");
            return Ok(());
        }
    };
    let (frames, size) = match fw.read_file(lwk_jobpack::FW_CFG_NAME, pool) {
        Ok(r) => r,
        Err(FwCfgError::NotFound) => {
            println!(
                "personality: no job pack ({}); waiting",
                lwk_jobpack::FW_CFG_NAME
            );
            return Ok(());
        }
        Err(e) => return Err(PersonalityError::Jobs(e)),
    };
    // SAFETY: the frames are contiguous pool frames we own, mapped in the
    // direct map, and fw_cfg just wrote `size` bytes into them.
    let pack: &mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(frames[0].vaddr() as *mut u8, size as usize) };
    let realtime = lwk_jobpack::realtime_ns(pack).map_err(PersonalityError::Pack)?;
    let mut specs = Vec::new();
    for j in lwk_jobpack::jobs(pack) {
        let j = j.map_err(PersonalityError::Pack)?;
        specs.push(Spec {
            path: j.path.to_vec(),
            argv: j.argv().map(<[u8]>::to_vec).collect(),
            envp: j.envp().map(<[u8]>::to_vec).collect(),
            flags: j.flags,
            exe_at: j.exe.as_ptr() as usize - pack.as_ptr() as usize,
            exe_len: j.exe.len(),
        });
    }
    println!(
        "personality: job pack of {size} bytes, {} job(s)",
        specs.len()
    );

    let (first, end) = alloc.split_slots(JOB_SLOTS)?;
    let jobs = ObjectAllocator::new(
        Cap::from_bits(slots::CNODE),
        first,
        end,
        alloc.take_unused_regions(),
    );
    // The pool and the job allocator are lent to each job for its run.
    let mut res = Some(Resources {
        pool: core::mem::replace(pool, Pool::empty()),
        jobs,
        jobs_first_slot: first,
    });
    let channel = JobChannel::new(Cap::from_bits(slots::JOB_PORT));
    let clock = TscClock {
        tsc_hz: h.tsc_mhz * 1_000_000,
        boot_tsc: 0,
        realtime_at_boot_ns: realtime.saturating_sub(sel4_root_task::time::now_ns()),
    };
    for (i, spec) in specs.iter().enumerate() {
        let id = i as u64 + 1;
        let file = &mut pack[spec.exe_at..spec.exe_at + spec.exe_len];
        let path = String::from_utf8_lossy(&spec.path);
        channel.send(crate::jobchan::START, &spec.path);
        let r = res.take().ok_or(PersonalityError::PoolExhausted)?;
        let (outcome, back) = run_one(h, id, spec, file, clock, r);
        res = Some(back);
        let outcome = match outcome {
            Ok((o, syscalls, sites)) => {
                match o {
                    Outcome::Exited(s) => {
                        println!("JOB-EXIT job={id} path={path} status={} syscalls={syscalls} rewritten={sites}", s & 0xff)
                    }
                    Outcome::Signaled { signal, ip, addr, what } => println!(
                        "JOB-SIGNAL job={id} path={path} signal={signal} ip={ip:#x} addr={addr:#x} syscalls={syscalls} ({what})"
                    ),
                }
                o
            }
            Err(e) => {
                println!("JOB-FAIL job={id} path={path}: {e}");
                Outcome::Exited(126)
            }
        };
        let (status, signal) = match outcome {
            Outcome::Exited(s) => (s & 0xff, 0),
            Outcome::Signaled { signal, .. } => (128 + signal, signal),
        };
        channel.exit(status, signal);
    }
    if let Some(r) = res {
        *pool = r.pool;
    }
    for f in frames {
        pool.release(f);
    }
    println!("JOBS-DONE count={}", specs.len());
    Ok(())
}

/// Runs one job with the lent resources; always gives them back.
fn run_one(
    h: &'static Handoff,
    id: u64,
    spec: &Spec,
    file: &mut [u8],
    clock: TscClock,
    mut res: Resources,
) -> (Result<(Outcome, u64, usize), PersonalityError>, Resources) {
    let plan = match elf::parse(file) {
        Ok(p) => p,
        Err(e) => return (Err(PersonalityError::Elf(e)), res),
    };
    let report = match rewrite::rewrite_image(file, &plan) {
        Ok(r) => r,
        Err(_) => return (Err(PersonalityError::ImageOutsideJob), res),
    };
    let sites = report.count();
    let handlers = h.handlers();
    let Some(first) = handlers.first() else {
        return (Err(PersonalityError::NoApplicationNode), res);
    };
    let made = app::create(&mut res.jobs, handlers, id).and_then(|space| {
        let tcb = app::create_thread(&mut res.jobs, &space, 0, first.node)?;
        Ok((space, tcb))
    });
    let (space, tcb) = match made {
        Ok(s) => s,
        Err(e) => {
            let first = res.jobs_first_slot;
            let _ = res.jobs.revoke_all(first, 64);
            return (Err(e), res);
        }
    };
    let backing = JobBacking::new(res, space.pml4);
    let now = sel4_root_task::time::rdtsc();
    let mut job = Job {
        id,
        path: String::from_utf8_lossy(&spec.path).into_owned(),
        handlers,
        space,
        threads: Default::default(),
        next_tid: 0,
        mm: AddressSpace::new(Layout::default()),
        backing,
        rewrite: report,
        dispatcher: Dispatcher::default(),
        signals: Default::default(),
        rlimits: Rlimits::default(),
        futexes: FutexTable::new(),
        clock,
        start_tsc: now,
        channel: Some(JobChannel::new(Cap::from_bits(slots::JOB_PORT))),
        stdin: StdinReader::default(),
        tty: [
            spec.flags & 1 != 0,
            spec.flags & 2 != 0,
            spec.flags & 4 != 0,
        ],
        syscalls: 0,
        outcome: None,
        name: thread_name(&spec.path),
        rng: now,
    };
    job.threads[0] = Some(Thread {
        tid: job.pid(),
        tcb,
        node: first.node,
        clear_child_tid: 0,
        robust_list: 0,
        start_tsc: now,
        blocked_untimed: false,
    });
    job.next_tid = job.pid() + 1;
    let regs = match prepare(&mut job, &plan, file, spec) {
        Ok(r) => r,
        Err(e) => return (Err(e), teardown(job)),
    };
    let cell = Box::new(JobCell::new(job));
    let slots = &SLOTS[..handlers.len()];
    for slot in slots {
        slot.publish(&cell);
    }
    let started = tcb.tcb_write_registers(true, 0, UserContext::WORDS as u64, &regs);
    if let Err(e) = started.context("TCB_WriteRegisters (job start)") {
        withdraw(&cell, slots);
        return (Err(e.into()), teardown(cell.into_inner()));
    }
    let deadline = Deadline::after_ms(JOB_TIMEOUT_MS);
    while !cell.is_done() && !deadline.expired() {
        sel4::yield_now();
    }
    if !cell.is_done() {
        cell.lock().end(Outcome::Signaled {
            signal: 9,
            ip: 0,
            addr: 0,
            what: "killed: time limit",
        });
    }
    withdraw(&cell, slots);
    let mut job = cell.into_inner();
    let outcome = job.outcome.take().unwrap_or(Outcome::Exited(0));
    let syscalls = job.syscalls;
    (Ok((outcome, syscalls, sites)), teardown(job))
}

/// Takes a job back from its handlers: no handler finds it any more, and
/// none is still inside it when this returns.
fn withdraw(cell: &JobCell, slots: &[crate::job::Slot]) {
    for slot in slots {
        slot.clear();
    }
    while cell.is_busy() {
        sel4::yield_now();
    }
}

/// `comm`: the last path component, 15 bytes at most.
fn thread_name(path: &[u8]) -> [u8; 16] {
    let base = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    let mut n = [0u8; 16];
    let len = base.len().min(15);
    n[..len].copy_from_slice(&base[..len]);
    n
}

/// Stops the job's thread, unmaps and frees its memory, revokes its kernel
/// objects; returns the lent resources.
fn teardown(mut job: Job) -> Resources {
    job.suspend_all();
    job.mm.clear(&mut job.backing);
    let mut res = job.backing.into_resources();
    let first = res.jobs_first_slot;
    if let Err(e) = res.jobs.revoke_all(first, 64) {
        println!("personality: job teardown: {e}");
    }
    res
}

/// Maps the image and the stack and builds the initial registers.
fn prepare(
    job: &mut Job,
    plan: &elf::LoadPlan,
    file: &[u8],
    spec: &Spec,
) -> Result<UserContext, PersonalityError> {
    job.mm
        .load_image(&mut job.backing, plan)
        .map_err(PersonalityError::Mm)?;
    for seg in &plan.segments {
        let data = seg.file_bytes(file);
        copy_user(job, seg.vaddr, data.len(), Access::Loader, |dst, off, n| {
            // SAFETY: `dst` is the personality's view of `n` bytes of the
            // job's image frames, checked by `phys_runs`.
            unsafe { core::ptr::copy_nonoverlapping(data.as_ptr().add(off), dst, n) }
        })
        .map_err(|_| PersonalityError::ImageOutsideJob)?;
    }
    let stack = job
        .mm
        .map_stack(&mut job.backing, plan.executable_stack)
        .map_err(PersonalityError::Mm)?;
    let argv: Vec<&[u8]> = spec.argv.iter().map(Vec::as_slice).collect();
    let envp: Vec<&[u8]> = spec.envp.iter().map(Vec::as_slice).collect();
    let mut random = [0u8; 16];
    let mut ctxless = job.rng;
    for b in random.iter_mut() {
        ctxless = ctxless
            .wrapping_mul(6364136223846793005)
            .wrapping_add(sel4_root_task::time::rdtsc() | 1);
        *b = (ctxless >> 33) as u8;
    }
    let mut aux = stack::AuxInfo::for_plan(plan);
    aux.hwcap = core::arch::x86_64::__cpuid(1).edx as u64;
    let contents = stack::StackContents {
        argv: &argv,
        envp: &envp,
        execfn: &spec.path,
        random,
        aux,
    };
    let mut buf = alloc::vec![0u8; 256 * 1024];
    let init = stack::build(&mut buf, stack.end, &contents).map_err(PersonalityError::Stack)?;
    let used = &buf[buf.len() - init.used..];
    copy_user(
        job,
        stack.end - init.used as u64,
        used.len(),
        Access::Loader,
        |dst, off, n| {
            // SAFETY: `dst` is the personality's view of the job's stack frames.
            unsafe { core::ptr::copy_nonoverlapping(used.as_ptr().add(off), dst, n) }
        },
    )
    .map_err(|_| PersonalityError::ImageOutsideJob)?;
    Ok(UserContext {
        rip: plan.entry,
        rsp: init.sp,
        rflags: 0x202,
        ..UserContext::default()
    })
}
