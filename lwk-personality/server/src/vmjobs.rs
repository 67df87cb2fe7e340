//! Jobs launched from the Linux VM (the `mcexec` analogue): the daemon
//! sends `JobStart` on the control ring; the personality reads the
//! executable through forwarded calls of that job (so no boot image is
//! rebuilt per program), answers the `JobStart` (0, or the errno that
//! kept the program from starting), runs it with every descriptor shipped
//! to the daemon, and sends `JobExit`. One job at a time.
//!
//! Nothing here waits unboundedly on the Linux side: attaching is awaited
//! in 30 s rounds with a line per round, forwarded calls time out into
//! `EIO`, and a restarted daemon (new generation) is picked up between
//! jobs.

use crate::backing::Resources;
use crate::link::Link;
use crate::pool::{Frame, Pool};
use crate::runner::{self, JobIo, Spec};
use crate::PersonalityError;
use alloc::vec;
use alloc::vec::Vec;
use channel::job::{JobExit, JobStart};
use channel::wire::SideStatus;
use channel::{ChannelError, JobId};
use core::time::Duration;
use lwk_handoff::Handoff;
use lwk_personality::loader::elf;
use lwk_personality::syscall::ship::{Opcode, Shipped, AT_FDCWD, CHUNK};
use lwk_personality::syscall::Errno;
use sel4_root_task::println;
use sel4_root_task::time::Deadline;

/// Rounds of waiting for the Linux side, each reported.
const ATTACH_ROUND: Duration = Duration::from_secs(30);
/// Largest executable loaded.
const MAX_EXE: u64 = 1 << 30;
const O_RDONLY_CLOEXEC: u64 = 0o2_000_000;
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;

/// Serves jobs from the Linux VM through the shared buffer of `bytes`.
/// Returns only if the buffer cannot be used at all.
pub fn serve(h: &'static Handoff, res: &mut Resources, bytes: u64) -> Result<(), PersonalityError> {
    let mut link = match Link::format(bytes) {
        Ok(l) => l,
        Err(e) => {
            println!("LWK-CHANNEL-ERROR cannot format the shared buffer: {e:?}");
            return Ok(());
        }
    };
    println!("LWK-CHANNEL-FORMATTED bytes={bytes}");
    let mut generation = wait_attached(&mut link);
    let clock = runner::clock(h, 0);
    let mut id = 1000u64;
    loop {
        let (seq, request, data) = {
            let incoming = match link.ep.control.recv(&mut link.waiter, ATTACH_ROUND) {
                Ok(r) => r,
                Err(ChannelError::Timeout) => {
                    generation = check_peer(&mut link, generation);
                    continue;
                }
                Err(e) => {
                    println!("link: bad control request: {e:?}");
                    continue;
                }
            };
            let request = *incoming.request();
            let mut data = vec![0u8; request.data.len() as usize];
            let n = incoming.read_data(0, &mut data);
            data.truncate(n);
            incoming.release();
            (request.seq, request, data)
        };
        let start = match JobStart::decode(&request, &data) {
            Ok(s) => s,
            Err(e) => {
                println!("link: malformed JobStart: {e:?}");
                let _ = link.ep.control.reply(seq, Err(channel::Errno::EINVAL), &[]);
                continue;
            }
        };
        let spec = Spec {
            path: start.exe.to_vec(),
            argv: start.argv.map(<[u8]>::to_vec).collect(),
            envp: start.envp.map(<[u8]>::to_vec).collect(),
        };
        let remote = start.job;
        id += 1;
        let (frames, size) = match load_exe(&mut link, remote, &spec.path, &mut res.pool) {
            Ok(loaded) => loaded,
            Err(e) => {
                refuse(&mut link, seq, remote, id, &spec.path, e);
                continue;
            }
        };
        // SAFETY: the frames are contiguous pool frames we own, mapped
        // read-write in the direct map; `load_exe` filled `size` bytes.
        let file = unsafe { core::slice::from_raw_parts_mut(frames[0].vaddr() as *mut u8, size) };
        if let Err(e) = elf::parse(file) {
            println!("JOB-FAIL job={id} path={}: {e}", show(&spec.path));
            release(&mut res.pool, frames);
            refuse(&mut link, seq, remote, id, &spec.path, Errno::ENOEXEC);
            continue;
        }
        let _ = link.ep.control.reply(seq, Ok(0), &[]);
        let lent = core::mem::replace(res, Resources::empty());
        let io = JobIo::Linux { link, remote };
        let (ran, back, link_back) = runner::run_one(h, id, &spec, file, clock, lent, io);
        *res = back;
        release(&mut res.pool, frames);
        link = link_back.ok_or(PersonalityError::LinkLost)?;
        let exit = match runner::report(id, &spec.path, &ran) {
            crate::job::Outcome::Exited(code) => JobExit::Exited { code },
            crate::job::Outcome::Signaled {
                signal, ip, addr, ..
            } => JobExit::Signaled {
                signal: signal as u32,
                fault_addr: addr,
                ip,
            },
        };
        if let Err(e) = link.notify(exit.call(remote)) {
            println!("link: JobExit of job {} not taken: {e:?}", remote.0);
        }
    }
}

fn show(path: &[u8]) -> &str {
    core::str::from_utf8(path).unwrap_or("<non-UTF-8 path>")
}

/// Answers a `JobStart` that could not start, then ends the job on the
/// Linux side as a shell would (127: not found, 126: not executable).
fn refuse(link: &mut Link, seq: u64, remote: JobId, id: u64, path: &[u8], e: Errno) {
    println!("JOB-FAIL job={id} path={}: {e}", show(path));
    let wire = channel::Errno::try_from(e.code() as u32).unwrap_or(channel::Errno::EIO);
    let _ = link.ep.control.reply(seq, Err(wire), &[]);
    let code = if e == Errno::ENOENT { 127 } else { 126 };
    let _ = link.notify(JobExit::Exited { code }.call(remote));
}

fn release(pool: &mut Pool, frames: Vec<Frame>) {
    for f in frames {
        pool.release(f);
    }
}

/// Waits for the daemon to attach, a line per round; returns its
/// generation.
fn wait_attached(link: &mut Link) -> u64 {
    loop {
        match link
            .ep
            .liveness
            .wait_for_peer(&mut link.waiter, ATTACH_ROUND)
        {
            Ok(st) => {
                println!("LWK-CHANNEL-ATTACHED generation={}", st.generation);
                return st.generation;
            }
            Err(ChannelError::Timeout) => {
                println!("LWK-CHANNEL-WAITING no Linux VM attached yet");
            }
            Err(e) => {
                // Down (closed) or garbage: wait for a new attach.
                let d = Deadline::after_ms(1000);
                while !d.expired() {
                    core::hint::spin_loop();
                }
                let _ = e;
            }
        }
    }
}

/// Between jobs: notices a daemon that went away or came back.
fn check_peer(link: &mut Link, generation: u64) -> u64 {
    match link.ep.liveness.peer_status() {
        Ok(st) if st.status == SideStatus::Up => {
            if st.generation != generation {
                println!("LWK-CHANNEL-ATTACHED generation={}", st.generation);
            }
            st.generation
        }
        _ => {
            println!("LWK-CHANNEL-DETACHED the daemon went away; waiting");
            wait_attached(link)
        }
    }
}

/// Reads executable `path` of job `job` through the daemon into
/// contiguous pool frames.
fn load_exe(
    link: &mut Link,
    job: JobId,
    path: &[u8],
    pool: &mut Pool,
) -> Result<(Vec<Frame>, usize), Errno> {
    let mut name = path.to_vec();
    name.push(0);
    let dirfd = AT_FDCWD as i64 as u64;
    let open = Shipped::new(Opcode::Openat, [dirfd, 0, O_RDONLY_CLOEXEC, 0, 0, 0], &name);
    let (fd, _) = link.call(job, open, &mut [])?;
    let r = read_whole(link, job, fd, pool);
    let _ = link.call(
        job,
        Shipped::new(Opcode::Close, [fd, 0, 0, 0, 0, 0], &[]),
        &mut [],
    );
    r
}

fn read_whole(
    link: &mut Link,
    job: JobId,
    fd: u64,
    pool: &mut Pool,
) -> Result<(Vec<Frame>, usize), Errno> {
    let mut st = [0u8; 144];
    link.call(
        job,
        Shipped::new(Opcode::Fstat, [fd, 0, 0, 0, 0, 0], &[]),
        &mut st,
    )?;
    let mode = u32::from_le_bytes([st[24], st[25], st[26], st[27]]);
    let size = u64::from_le_bytes(st[48..56].try_into().unwrap_or([0; 8]));
    if mode & S_IFMT != S_IFREG {
        return Err(Errno::EACCES);
    }
    if size == 0 || size > MAX_EXE {
        return Err(Errno::ENOEXEC);
    }
    let n = size.div_ceil(1 << 21) as usize;
    let frames = pool.alloc_contiguous(21, n).ok_or(Errno::ENOMEM)?;
    // SAFETY: contiguous pool frames we own, mapped in the direct map.
    let buf =
        unsafe { core::slice::from_raw_parts_mut(frames[0].vaddr() as *mut u8, size as usize) };
    let mut done = 0usize;
    while done < buf.len() {
        let want = (buf.len() - done).min(CHUNK);
        let call = Shipped::new(
            Opcode::Pread64,
            [fd, 0, want as u64, done as u64, 0, 0],
            &[],
        );
        match link.call(job, call, &mut buf[done..done + want]) {
            Ok((got, _)) if got > 0 => done += (got as usize).min(want),
            Ok(_) => break,
            Err(e) => {
                release(pool, frames);
                return Err(e);
            }
        }
    }
    if done != buf.len() {
        release(pool, frames);
        return Err(Errno::EIO);
    }
    Ok((frames, done))
}
