//! Standalone mode: run the programs of the job pack one after another.
//!
//! For each job: parse the ELF (refused with a clear error if dynamic or
//! malformed), rewrite `syscall` into `ud2`, build the job's spaces and
//! thread on the first application node, map its image and an 8 MiB stack
//! from the pool, build the Linux initial stack, hand the job to that
//! node's handler and start it; wait (bounded) for it to end; print one
//! machine-readable line with its exit status or signal; tear it down.

use crate::app::{self, AppSpace, STACK_SIZE, STACK_TOP};
use crate::fwcfg::{FwCfg, FwCfgError};
use crate::job::{Job, JobCell, Outcome, SLOTS};
use crate::jobchan::JobChannel;
use crate::pool::Pool;
use crate::PersonalityError;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use lwk_handoff::{slots, Handoff};
use lwk_personality::loader::{elf, rewrite, stack};
use lwk_personality::syscall::process::Rlimits;
use lwk_personality::syscall::time::TscClock;
use lwk_personality::syscall::Dispatcher;
use sel4::{Cap, UserContext};
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
    h: &Handoff,
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
    let mut jobs = ObjectAllocator::new(
        Cap::from_bits(slots::CNODE),
        first,
        end,
        alloc.take_unused_regions(),
    );
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
        let outcome = match run_one(h, id, spec, file, clock, &channel, pool, &mut jobs, first) {
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
    for f in frames {
        pool.release(f);
    }
    println!("JOBS-DONE count={}", specs.len());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    h: &Handoff,
    id: u64,
    spec: &Spec,
    file: &mut [u8],
    clock: TscClock,
    channel: &JobChannel,
    pool: &mut Pool,
    jobs: &mut ObjectAllocator,
    jobs_first: u64,
) -> Result<(Outcome, u64, usize), PersonalityError> {
    let plan = elf::parse(file).map_err(PersonalityError::Elf)?;
    let report =
        rewrite::rewrite_image(file, &plan).map_err(|_| PersonalityError::ImageOutsideJob)?;
    let sites = report.count();
    let handler = h.handlers()[0];
    let mut space = app::create(jobs, handler.node, handler.fault_ep, id)?;
    let built = prepare(&mut space, &plan, file, spec, pool, jobs);
    let regs = match built {
        Ok(r) => r,
        Err(e) => {
            space.destroy(pool, jobs, jobs_first)?;
            return Err(e);
        }
    };
    let tcb = space.tcb;
    let job = Job {
        id,
        path: spec.path.clone(),
        node: handler.node,
        space,
        rewrite: report,
        dispatcher: Dispatcher::default(),
        signals: Default::default(),
        rlimits: Rlimits::default(),
        clock,
        start_tsc: sel4_root_task::time::rdtsc(),
        channel: Some(JobChannel::new(Cap::from_bits(slots::JOB_PORT))),
        tty: [
            spec.flags & 1 != 0,
            spec.flags & 2 != 0,
            spec.flags & 4 != 0,
        ],
        syscalls: 0,
        outcome: None,
        clear_child_tid: 0,
        robust_list: 0,
        rng: sel4_root_task::time::rdtsc(),
    };
    let _ = channel;
    let cell = Box::new(JobCell::new(job));
    let slot = &SLOTS[0];
    slot.publish(&cell);
    if let Err(e) = tcb.tcb_write_registers(true, 0, UserContext::WORDS as u64, &regs) {
        slot.clear();
        let job = cell.into_inner();
        job.space.destroy(pool, jobs, jobs_first)?;
        return Err(PersonalityError::Sel4 {
            what: "TCB_WriteRegisters (job start)",
            err: e,
        });
    }
    let deadline = Deadline::after_ms(JOB_TIMEOUT_MS);
    let mut killed = false;
    while !cell.is_done() {
        if deadline.expired() {
            // Withdraw the job, stop its thread, wait out a fault in service.
            slot.clear();
            let _ = tcb.tcb_suspend();
            while cell.is_busy() {
                sel4::yield_now();
            }
            killed = true;
            break;
        }
        sel4::yield_now();
    }
    slot.clear();
    let mut job = cell.into_inner();
    let outcome = if killed {
        Outcome::Signaled {
            signal: 9,
            ip: 0,
            addr: 0,
            what: "killed: time limit",
        }
    } else {
        job.outcome.take().unwrap_or(Outcome::Exited(0))
    };
    let syscalls = job.syscalls;
    job.space.destroy(pool, jobs, jobs_first)?;
    Ok((outcome, syscalls, sites))
}

/// Maps the image and the stack and builds the initial registers.
fn prepare(
    space: &mut AppSpace,
    plan: &elf::LoadPlan,
    file: &[u8],
    spec: &Spec,
    pool: &mut Pool,
    jobs: &mut ObjectAllocator,
) -> Result<UserContext, PersonalityError> {
    space.load(plan, file, pool, jobs)?;
    space.back(STACK_TOP - STACK_SIZE, STACK_TOP, true, pool, jobs)?;
    let argv: Vec<&[u8]> = spec.argv.iter().map(Vec::as_slice).collect();
    let envp: Vec<&[u8]> = spec.envp.iter().map(Vec::as_slice).collect();
    let mut random = [0u8; 16];
    let t = sel4_root_task::time::rdtsc();
    for (k, b) in random.iter_mut().enumerate() {
        *b = (t.rotate_left(k as u32 * 7) ^ (k as u64).wrapping_mul(0x9e37_79b9)) as u8;
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
    let init = stack::build(&mut buf, STACK_TOP, &contents).map_err(PersonalityError::Stack)?;
    let used = &buf[buf.len() - init.used..];
    space
        .mem
        .copy(
            STACK_TOP - init.used as u64,
            used.len(),
            true,
            |dst, off, n| {
                // SAFETY: `dst` is a direct-map address of the job's stack
                // frames with `n` bytes available.
                unsafe { core::ptr::copy_nonoverlapping(used.as_ptr().add(off), dst, n) }
            },
        )
        .ok_or(PersonalityError::ImageOutsideJob)?;
    Ok(UserContext {
        rip: plan.entry,
        rsp: init.sp,
        rflags: 0x202,
        ..UserContext::default()
    })
}
