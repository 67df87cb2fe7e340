//! Running one job, whichever way it arrived (the boot's job pack, or a
//! `JobStart` from the Linux VM): parse the ELF (refused with a clear error
//! if dynamic or malformed), rewrite `syscall` into `ud2`, build the job's
//! spaces and first thread on the first application node (more come with
//! `clone`, one per node), map its image and an 8 MiB stack from the pool,
//! build the Linux initial stack, hand the job to the handlers and start
//! it; wait (bounded) for it to end; tear it down and give every resource
//! back.

use crate::app;
use crate::backing::{JobBacking, Resources};
use crate::ctx::copy_user;
use crate::job::{Job, JobCell, Outcome, Slot, Thread, SLOTS};
use crate::jobchan::{JobChannel, StdinReader};
use crate::link::Link;
use crate::pool::Pool;
use crate::PersonalityError;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use channel::JobId;
use lwk_handoff::{slots, Handoff};
use lwk_personality::fd::FdTable;
use lwk_personality::futex::FutexTable;
use lwk_personality::loader::{elf, rewrite, stack};
use lwk_personality::mm::{Access, AddressSpace, Layout};
use lwk_personality::syscall::process::Rlimits;
use lwk_personality::syscall::time::TscClock;
use lwk_personality::syscall::Dispatcher;
use sel4::{Cap, Context, UserContext};
use sel4_alloc::ObjectAllocator;
use sel4_root_task::println;
use sel4_root_task::time::{now_ns, rdtsc, Deadline};

/// A job may run this long before it is killed.
const JOB_TIMEOUT_MS: u64 = 600_000;
/// A running job is reported this often.
const NOTE_EVERY_MS: u64 = 20_000;
/// Slots reserved for the kernel objects of one job at a time.
const JOB_SLOTS: u64 = 4096;

/// What to run.
pub struct Spec {
    pub path: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
}

/// Where the job's standard streams and files are. (Moved once per job:
/// the size of the link does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum JobIo {
    /// Standalone: fds 0–2 over the job channel (COM2); `tty` says which
    /// were terminals for the launching command. No files.
    Console { tty: [bool; 3] },
    /// Launched by the Linux VM: every descriptor is shipped there, as job
    /// `remote` of the daemon.
    Linux { link: Link, remote: JobId },
}

/// How a job went.
pub struct Ran {
    pub outcome: Outcome,
    pub syscalls: u64,
    /// `syscall` instructions rewritten.
    pub sites: usize,
    /// From the start of loading to the first instruction, in µs.
    pub load_us: u64,
}

/// Sets the pool and a job allocator (a share of the CSpace and every
/// untyped left) aside for jobs, lent to one job at a time.
pub fn lend(alloc: &mut ObjectAllocator, pool: &mut Pool) -> Result<Resources, PersonalityError> {
    let (first, end) = alloc.split_slots(JOB_SLOTS)?;
    let jobs = ObjectAllocator::new(
        Cap::from_bits(slots::CNODE),
        first,
        end,
        alloc.take_unused_regions(),
    );
    Ok(Resources {
        pool: core::mem::replace(pool, Pool::empty()),
        jobs,
        jobs_first_slot: first,
    })
}

/// The job clock: the TSC, with the wall-clock time the launcher gave.
pub fn clock(h: &Handoff, realtime_ns: u64) -> TscClock {
    TscClock {
        tsc_hz: h.tsc_mhz * 1_000_000,
        boot_tsc: 0,
        realtime_at_boot_ns: realtime_ns.saturating_sub(now_ns()),
    }
}

/// Prints the job's machine-readable end line; returns how it ended
/// (126 when it could not start).
pub fn report(id: u64, path: &[u8], r: &Result<Ran, PersonalityError>) -> Outcome {
    let path = String::from_utf8_lossy(path);
    match r {
        Ok(ran) => {
            let (syscalls, sites, load_us) = (ran.syscalls, ran.sites, ran.load_us);
            match ran.outcome {
                Outcome::Exited(s) => println!(
                    "JOB-EXIT job={id} path={path} status={} syscalls={syscalls} rewritten={sites} load_us={load_us}",
                    s & 0xff
                ),
                Outcome::Signaled { signal, ip, addr, what } => println!(
                    "JOB-SIGNAL job={id} path={path} signal={signal} ip={ip:#x} addr={addr:#x} syscalls={syscalls} ({what})"
                ),
            }
            ran.outcome
        }
        Err(e) => {
            println!("JOB-FAIL job={id} path={path}: {e}");
            Outcome::Exited(126)
        }
    }
}

/// Runs one job with the lent resources; always gives them back.
pub fn run_one(
    h: &'static Handoff,
    id: u64,
    spec: &Spec,
    file: &mut [u8],
    clock: TscClock,
    mut res: Resources,
    io: JobIo,
) -> (Result<Ran, PersonalityError>, Resources, Option<Link>) {
    let began = rdtsc();
    let give_back = |io: JobIo| match io {
        JobIo::Linux { link, .. } => Some(link),
        JobIo::Console { .. } => None,
    };
    let plan = match elf::parse(file) {
        Ok(p) => p,
        Err(e) => return (Err(PersonalityError::Elf(e)), res, give_back(io)),
    };
    let report = match rewrite::rewrite_image(file, &plan) {
        Ok(r) => r,
        Err(_) => return (Err(PersonalityError::ImageOutsideJob), res, give_back(io)),
    };
    let sites = report.count();
    let handlers = h.handlers();
    let Some(first) = handlers.first() else {
        return (Err(PersonalityError::NoApplicationNode), res, give_back(io));
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
            return (Err(e), res, give_back(io));
        }
    };
    let (fds, tty, channel, link, remote) = match io {
        JobIo::Console { tty } => (
            FdTable::console(),
            tty,
            Some(JobChannel::new(Cap::from_bits(slots::JOB_PORT))),
            None,
            JobId::NONE,
        ),
        JobIo::Linux { link, remote } => (
            FdTable::remote_stdio(),
            [false; 3],
            None,
            Some(link),
            remote,
        ),
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
        channel,
        stdin: StdinReader::default(),
        tty,
        fds,
        link,
        remote,
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
        Err(e) => {
            let (res, link) = teardown(job);
            return (Err(e), res, link);
        }
    };
    let cell = Box::new(JobCell::new(job));
    let slots = &SLOTS[..handlers.len()];
    for slot in slots {
        slot.publish(&cell);
    }
    let started = tcb.tcb_write_registers(true, 0, UserContext::WORDS as u64, &regs);
    if let Err(e) = started.context("TCB_WriteRegisters (job start)") {
        withdraw(&cell, slots);
        let (res, link) = teardown(cell.into_inner());
        return (Err(e.into()), res, link);
    }
    let load_us = (rdtsc() - began) / h.tsc_mhz.max(1);
    let deadline = Deadline::after_ms(JOB_TIMEOUT_MS);
    let mut next_note = Deadline::after_ms(NOTE_EVERY_MS);
    while !cell.is_done() && !deadline.expired() {
        if next_note.expired() {
            note_running(&cell, id);
            next_note = Deadline::after_ms(NOTE_EVERY_MS);
        }
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
    let ran = Ran {
        outcome,
        syscalls,
        sites,
        load_us,
    };
    let (res, link) = teardown(job);
    (Ok(ran), res, link)
}

/// A line about a job that runs long: whether a handler is serving one of
/// its calls right now (the lock is held), and how many it has served.
fn note_running(cell: &JobCell, id: u64) {
    match cell.try_lock() {
        Some(job) => {
            let blocked = job
                .threads
                .iter()
                .flatten()
                .filter(|t| t.blocked_untimed)
                .count();
            println!(
                "JOB-RUNNING job={id} syscalls={} threads={} blocked={blocked}",
                job.syscalls,
                job.live_threads()
            );
        }
        None => println!(
            "JOB-RUNNING job={id} (a handler is inside a system call; last shipped: {})",
            crate::link::last_call()
        ),
    }
}

/// Takes a job back from its handlers: no handler finds it any more, and
/// none is still inside it when this returns.
fn withdraw(cell: &JobCell, slots: &[Slot]) {
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

/// Stops the job's threads, unmaps and frees its memory, deletes its
/// kernel objects; returns the lent resources and link.
///
/// The threads, then the CSpace, then the VSpace are deleted one by one
/// before the job's untypeds are revoked for the rest (page tables, 4 KiB
/// frames). Revoking everything at once occasionally never returned on
/// seL4 5.0 SMP under QEMU when the job had run shipped calls (about one
/// job in four of `busybox sh -c 'exit 3'` through the Linux VM, hung in
/// `CNode_Revoke`); with this order it did not recur in the runs since
/// (see docs/personality.md).
fn teardown(mut job: Job) -> (Resources, Option<Link>) {
    job.suspend_all();
    job.mm.clear(&mut job.backing);
    let ours = Cap::<sel4::cap_type::CNode>::from_bits(slots::CNODE);
    let objects = job.threads.iter().flatten().map(|t| t.tcb.bits());
    let spaces = [job.space.cnode.bits(), job.space.pml4.bits()];
    for slot in objects.chain(spaces) {
        if let Err(e) = ours.cnode_delete(slot, 64) {
            println!("personality: job teardown: deleting slot {slot}: {e:?}");
        }
    }
    let mut res = job.backing.into_resources();
    let first = res.jobs_first_slot;
    if let Err(e) = res.jobs.revoke_all(first, 64) {
        println!("personality: job teardown: {e}");
    }
    (res, job.link.take())
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
