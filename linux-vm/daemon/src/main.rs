//! `lwk-linux-daemon`: the Linux VM's end of the channel.
//!
//! Started by the VM's init script once the share is mounted. It finds the
//! ivshmem device in sysfs (vendor 1af4, device 1110), maps its BAR 2
//! (`resource2`) from userspace — no driver — and attaches to the region as
//! the responder of the I/O rings. Every forwarded call is made as a real
//! Linux system call on files below the share, confined per job (see
//! [`confine`]). It prints one line per event worth seeing on the console:
//!
//! - `LINUX-VM-READY device=<dir> region=<bytes> share=<dir> uptime=<s>`
//!   once the region is mapped;
//! - `LWK-CHANNEL-ATTACHED lwk_generation=<n>` each time it (re)attaches to
//!   a region the LWK formatted;
//! - `LWK-CHANNEL-DETACHED reason=<why>` when the LWK stops or restarts.
//!
//! - `LWK-JOB-LAUNCH job=<id> tag=<t> exe=<path>`, `LWK-JOB-START job=<id>
//!   result=<r>`, `LWK-JOB-EXIT job=<id> status=<n>` for launched jobs.
//!
//! Options: `--share DIR` (default `/mnt/host`), `--sysfs DIR` (default
//! `/sys`), `--region FILE` (map this file instead of looking for the device,
//! e.g. a `/dev/shm` file when testing on the host), `--launch SPEC` (the
//! launch channel, see [`launch`]: `port:NAME` for a virtio-serial port, or
//! a Unix socket path), `--programs DIR` (the read-only program tree jobs
//! see as `/.lwk`), `--trace` (one line per call on stderr).

#![deny(unsafe_code)]
#![forbid(unsafe_op_in_unsafe_fn)]

mod confine;
mod fdtable;
mod jobs;
mod launch;
mod path;
mod pci;
mod serve;
#[allow(unsafe_code)]
mod sys;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use channel::job::JobExit;
use channel::wire::{REGION_SIZE, SLOT_DATA_SIZE};
use channel::{backoff_ns, ChannelError, Errno, LinuxEndpoint, Opcode, Region, Request, Waiter};
use lwk_linux_daemon::launch_wire::Kind;

use crate::confine::Root;
use crate::jobs::Jobs;
use crate::launch::Launcher;
use crate::serve::Answer;

/// Command-line options.
struct Options {
    share: PathBuf,
    sysfs: PathBuf,
    region: Option<PathBuf>,
    launch: Option<String>,
    programs: Option<PathBuf>,
    trace: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        share: PathBuf::from("/mnt/host"),
        sysfs: PathBuf::from("/sys"),
        region: None,
        launch: None,
        programs: None,
        trace: false,
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.to_str() {
            Some("--share") => options.share = value("--share")?,
            Some("--sysfs") => options.sysfs = value("--sysfs")?,
            Some("--region") => options.region = Some(value("--region")?),
            Some("--launch") => {
                options.launch = Some(value("--launch")?.to_string_lossy().into_owned())
            }
            Some("--programs") => options.programs = Some(value("--programs")?),
            Some("--trace") => options.trace = true,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(options)
}

/// Time and sleeping for the channel's polling: the monotonic clock, and
/// sleeps that grow from 1 µs to 1 ms.
struct Sleeper;

impl Waiter for Sleeper {
    fn now_ns(&self) -> u64 {
        sys::monotonic_ns()
    }
    fn relax(&mut self, round: u32) {
        std::thread::sleep(Duration::from_nanos(backoff_ns(round)));
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            println!("LINUX-VM-FAIL daemon: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let options = parse_options()?;
    let (file, device) = match &options.region {
        Some(path) => (path.clone(), path.display().to_string()),
        None => {
            let found = pci::find_ivshmem(&options.sysfs)
                .map_err(|e| format!("cannot list PCI devices: {e}"))?;
            let dir = found
                .first()
                .ok_or("no ivshmem device (PCI 1af4:1110) found")?;
            (dir.join("resource2"), dir.display().to_string())
        }
    };
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&file)
        .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let len = handle
        .metadata()
        .map_err(|e| format!("cannot stat {}: {e}", file.display()))?
        .len() as usize;
    if len < REGION_SIZE {
        return Err(format!(
            "{} has {len} bytes, the channel needs {REGION_SIZE}",
            file.display()
        ));
    }
    let mapping = sys::Mapping::shared(handle.as_fd(), len)
        .map_err(|e| format!("cannot map {}: {e}", file.display()))?;
    let region = mapping
        .region()
        .map_err(|e| format!("cannot use the mapping: {e}"))?;
    let mut root = Root::open(&options.share)
        .map_err(|e| format!("cannot open share {}: {e}", options.share.display()))?;
    if let Some(dir) = &options.programs {
        root = root
            .with_programs(dir)
            .map_err(|e| format!("cannot open programs {}: {e}", dir.display()))?;
    }
    let mut jobs = Jobs::new(root);
    let mut launcher = match &options.launch {
        None => None,
        Some(spec) => match launch::open(spec, &options.sysfs)? {
            Some(port) => Some(Launcher::new(port)),
            None => {
                println!("LINUX-VM-NOTE no launch port {spec}: jobs only from the LWK");
                None
            }
        },
    };
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    println!(
        "LINUX-VM-READY device={device} region={len} share={} uptime={}",
        options.share.display(),
        uptime.split_whitespace().next().unwrap_or("?")
    );
    serve_forever(region, &mut jobs, launcher.as_mut(), options.trace);
}

/// Attaches, serves until the LWK goes away, waits for it to come back.
fn serve_forever(
    region: Region,
    jobs: &mut Jobs,
    mut launcher: Option<&mut Launcher>,
    trace: bool,
) -> ! {
    let mut waiter = Sleeper;
    loop {
        if let Some(l) = launcher.as_deref_mut() {
            l.idle();
        }
        let patience = if launcher.is_some() {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        let endpoint = match LinuxEndpoint::attach(region, &mut waiter, patience) {
            Ok(endpoint) => endpoint,
            Err(ChannelError::Timeout) => continue,
            Err(e) => {
                // A region formatted by another build, or being formatted.
                println!("LWK-CHANNEL-REFUSED reason={e}");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let mut endpoint = endpoint;
        if endpoint.check_lwk() == Err(ChannelError::PeerDown) {
            // Formatted by an LWK that has stopped since: wait for a new one.
            wait_for_new_lwk(&endpoint, launcher.as_deref_mut());
            continue;
        }
        let generation = endpoint.liveness.peer_status().map_or(0, |s| s.generation);
        println!("LWK-CHANNEL-ATTACHED lwk_generation={generation}");
        jobs.clear();
        if let Some(l) = launcher.as_deref_mut() {
            l.clear();
            l.port()
                .send(Kind::Attached, 0, generation.to_le_bytes().to_vec());
        }
        let why = serve(&mut endpoint, jobs, launcher.as_deref_mut(), trace);
        println!("LWK-CHANNEL-DETACHED reason={why}");
        jobs.clear();
        if let Some(l) = launcher.as_deref_mut() {
            l.clear();
            l.port().send(Kind::Detached, 0, why.to_string());
        }
        if why == ChannelError::PeerDown {
            wait_for_new_lwk(&endpoint, launcher.as_deref_mut());
        }
    }
}

/// Waits until the LWK formats the region again (its generation changes or
/// the magic goes).
fn wait_for_new_lwk(endpoint: &LinuxEndpoint, mut launcher: Option<&mut Launcher>) {
    while endpoint.check_lwk() == Err(ChannelError::PeerDown) {
        if let Some(l) = launcher.as_deref_mut() {
            l.idle();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A request that must wait (a lock held by another job), with its data.
struct Deferred {
    request: Request,
    data: Vec<u8>,
}

/// Serves requests until the channel says the LWK is gone; returns why.
fn serve(
    endpoint: &mut LinuxEndpoint,
    jobs: &mut Jobs,
    mut launcher: Option<&mut Launcher>,
    trace: bool,
) -> ChannelError {
    let mut waiter = Sleeper;
    let mut data = vec![0u8; SLOT_DATA_SIZE];
    let mut out = Vec::with_capacity(SLOT_DATA_SIZE);
    let mut deferred: Vec<Deferred> = Vec::new();
    loop {
        if let Err(e) = endpoint.check_lwk() {
            return e;
        }
        let busy = match launcher.as_deref_mut() {
            Some(l) => l.round(endpoint, jobs),
            None => false,
        };
        // Waiting locks first, in arrival order.
        let mut i = 0;
        while i < deferred.len() {
            out.clear();
            let d = &deferred[i];
            match serve::serve(jobs, &d.request, &d.data, &mut out) {
                Answer::Later => i += 1,
                Answer::Done(result) => {
                    let seq = d.request.seq;
                    deferred.remove(i);
                    answer(endpoint, seq, result, &out);
                }
            }
        }
        let patience = if busy || !deferred.is_empty() {
            Duration::from_millis(1)
        } else if launcher.is_some() {
            // Launch frames are taken between requests.
            Duration::from_millis(10)
        } else {
            Duration::from_millis(100)
        };
        let (request, len) = match endpoint.io.recv(&mut waiter, patience) {
            Ok(incoming) => {
                let request = *incoming.request();
                let len = incoming.read_data(0, &mut data);
                incoming.release();
                (request, len)
            }
            Err(ChannelError::Timeout) => {
                endpoint.liveness.beat();
                continue;
            }
            // One malformed request, consumed and answered by the channel.
            Err(e) if !e.is_fatal() => {
                println!("LWK-CHANNEL-BAD-REQUEST {e}");
                continue;
            }
            Err(e) => return e,
        };
        if request.call.opcode == Opcode::JobExit {
            // The job is over: its waiting calls (a read of an empty stdin)
            // end with it, and a launched job's status goes to the host.
            let job = request.call.job;
            deferred.retain(|d| {
                let mine = d.request.call.job == job;
                if mine {
                    answer(endpoint, d.request.seq, Err(Errno::EIO), &[]);
                }
                !mine
            });
        }
        out.clear();
        let answered = serve::serve(jobs, &request, &data[..len], &mut out);
        if trace {
            eprintln!(
                "job {} {}({:?}) data={len} -> {answered:?} out={}",
                request.call.job.0,
                request.call.opcode.name(),
                request.call.args,
                out.len()
            );
        }
        match answered {
            Answer::Done(result) => {
                answer(endpoint, request.seq, result, &out);
                // A launched job's status goes to the host only now, after
                // its JobExit is answered (its relay sends it once the
                // output is drained).
                if request.call.opcode == Opcode::JobExit {
                    if let (Some(l), Ok(exit)) =
                        (launcher.as_deref_mut(), JobExit::decode(&request))
                    {
                        l.ended(endpoint, request.call.job, &exit);
                    }
                }
            }
            Answer::Later => deferred.push(Deferred {
                request,
                data: data[..len].to_vec(),
            }),
        }
    }
}

fn answer(endpoint: &mut LinuxEndpoint, seq: u64, result: Result<u64, channel::Errno>, out: &[u8]) {
    if let Err(e) = endpoint.io.reply(seq, result, out) {
        println!("LWK-CHANNEL-REPLY-FAILED seq={seq} {e}");
    }
}
