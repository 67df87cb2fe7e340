//! Standalone mode: run the programs of the job pack one after another.
//!
//! For each job: parse the ELF (refused with a clear error if dynamic or
//! malformed), rewrite `syscall` into `ud2`, build the job's spaces and
//! first thread on the first application node (more come with `clone`,
//! one per node), map its image and an 8 MiB stack
//! from the pool, build the Linux initial stack, hand the job to that
//! node's handler and start it; wait (bounded) for it to end; print one
//! machine-readable line with its exit status or signal; tear it down.

use crate::backing::Resources;
use crate::fwcfg::{FwCfg, FwCfgError};
use crate::jobchan::JobChannel;
use crate::runner::{self, JobIo};
use crate::PersonalityError;
use alloc::vec::Vec;
use lwk_handoff::{slots, Handoff};
use sel4::Cap;
use sel4_root_task::println;

/// A job's description, copied out of the pack.
struct Spec {
    job: runner::Spec,
    flags: u32,
    exe_at: usize,
    exe_len: usize,
}

/// Runs every job of the pack, if there is one.
pub fn run_standalone(h: &'static Handoff, res: &mut Resources) -> Result<(), PersonalityError> {
    let fw = match FwCfg::open(Cap::from_bits(slots::FW_CFG_PORT)) {
        Ok(fw) => fw,
        Err(e) => {
            println!("personality: {e}; no standalone jobs");
            return Ok(());
        }
    };
    let (frames, size) = match fw.read_file(lwk_jobpack::FW_CFG_NAME, &mut res.pool) {
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
            job: runner::Spec {
                path: j.path.to_vec(),
                argv: j.argv().map(<[u8]>::to_vec).collect(),
                envp: j.envp().map(<[u8]>::to_vec).collect(),
            },
            flags: j.flags,
            exe_at: j.exe.as_ptr() as usize - pack.as_ptr() as usize,
            exe_len: j.exe.len(),
        });
    }
    println!(
        "personality: job pack of {size} bytes, {} job(s)",
        specs.len()
    );

    let channel = JobChannel::new(Cap::from_bits(slots::JOB_PORT));
    let clock = runner::clock(h, realtime);
    for (i, spec) in specs.iter().enumerate() {
        let id = i as u64 + 1;
        let file = &mut pack[spec.exe_at..spec.exe_at + spec.exe_len];
        channel.send(crate::jobchan::START, &spec.job.path);
        let tty = [0, 1, 2].map(|b| spec.flags & (1 << b) != 0);
        let lent = core::mem::replace(res, Resources::empty());
        let (ran, back, _) =
            runner::run_one(h, id, &spec.job, file, clock, lent, JobIo::Console { tty });
        *res = back;
        let (status, signal) = match runner::report(id, &spec.job.path, &ran) {
            crate::job::Outcome::Exited(s) => (s & 0xff, 0),
            crate::job::Outcome::Signaled { signal, .. } => (128 + signal, signal),
        };
        channel.exit(status, signal);
    }
    for f in frames {
        res.pool.release(f);
    }
    println!("JOBS-DONE count={}", specs.len());
    Ok(())
}
