//! Jobs launched from the host (the `mcexec` analogue): the launch channel
//! (framing in [`lwk_linux_daemon::launch_wire`]) and the relays between a
//! job's standard descriptors and the host command.
//!
//! For a `Launch` frame the daemon
//!
//! 1. makes three pipes and creates the job with their ends as descriptors
//!    0 (read end of the stdin pipe), 1 and 2 (write ends), a fresh job id
//!    (`linux generation << 16 | n`, so ids never repeat across daemon
//!    restarts) and the root as cwd — before the LWK hears of it, since the
//!    LWK loads the executable through forwarded calls of that job;
//! 2. sends `JobStart` on the control ring (queued while the ring is full)
//!    and reports the LWK's answer as `Started`;
//! 3. relays: a thread per job reads the stdout/stderr pipes and sends
//!    `Stdout`/`Stderr` frames; `Stdin` frames are written to the stdin
//!    pipe without blocking (what does not fit waits for the next round),
//!    and an empty one closes it (the job reads end of file). A `read` of
//!    fd 0 that would wait is deferred by the server loop, never blocking
//!    it;
//! 4. on the job's `JobExit` hands the status to the relay thread, which
//!    sends `Exit` once both pipes are drained (all output first). A job
//!    whose state is dropped without `JobExit` (the LWK restarted) ends
//!    `Lost`.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use channel::job::{JobExit, JobSpec};
use channel::wire::SLOT_DATA_SIZE;
use channel::{ChannelError, Errno, JobId, LinuxEndpoint};
use lwk_linux_daemon::launch_wire::{
    self, started_payload, ExitStatus, Frame, Kind, Launch, CHUNK,
};

use crate::jobs::{Job, Jobs};
use crate::sys;

/// The launch channel: frames from the host arrive on `rx`, frames for it
/// go to `tx` (a writer thread).
pub struct Port {
    rx: Receiver<Frame>,
    tx: Sender<Frame>,
}

/// Where the launch channel is: `port:NAME` (a virtio-serial port found by
/// name under `/sys/class/virtio-ports`), or a path (a Unix socket to
/// connect to, or a character device / FIFO to open). `Ok(None)`: no such
/// port (the VM was booted without one; jobs can still be numbered by the
/// LWK itself).
pub fn open(spec: &str, sysfs: &Path) -> Result<Option<Port>, String> {
    let (path, is_port) = match spec.strip_prefix("port:") {
        Some(name) => match find_port(sysfs, name) {
            Some(path) => (path, true),
            None => return Ok(None),
        },
        None => (PathBuf::from(spec), false),
    };
    let meta =
        std::fs::metadata(&path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    let (reader, writer): (Box<dyn std::io::Read + Send>, Box<dyn Write + Send>) =
        if meta.file_type().is_socket() {
            let s = UnixStream::connect(&path)
                .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
            let w = s.try_clone().map_err(|e| e.to_string())?;
            (Box::new(s), Box::new(w))
        } else {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            let w = f.try_clone().map_err(|e| e.to_string())?;
            (Box::new(f), Box::new(w))
        };
    let (in_tx, rx) = mpsc::channel();
    let (tx, out_rx) = mpsc::channel::<Frame>();
    std::thread::spawn(move || read_frames(reader, in_tx, is_port));
    std::thread::spawn(move || write_frames(writer, out_rx));
    println!("LINUX-VM-LAUNCH-PORT path={}", path.display());
    Ok(Some(Port { rx, tx }))
}

/// `/dev/<vportNpM>` of the virtio-serial port called `name`.
fn find_port(sysfs: &Path, name: &str) -> Option<PathBuf> {
    let dir = std::fs::read_dir(sysfs.join("class/virtio-ports")).ok()?;
    for entry in dir.flatten() {
        let named = std::fs::read_to_string(entry.path().join("name")).unwrap_or_default();
        if named.trim_end_matches(['\n', '\0']) == name {
            return Some(Path::new("/dev").join(entry.file_name()));
        }
    }
    None
}

/// The reader thread. A virtio port reads end of file while the host side
/// is not connected: wait and read on.
fn read_frames(mut r: Box<dyn std::io::Read + Send>, tx: Sender<Frame>, is_port: bool) {
    loop {
        match launch_wire::read_frame(&mut r) {
            Ok(Some(frame)) => {
                if tx.send(frame).is_err() {
                    return;
                }
            }
            Ok(None) | Err(_) if is_port => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) | Err(_) => return,
        }
    }
}

/// The writer thread: one `write_all` per frame, so frames never mix.
fn write_frames(mut w: Box<dyn Write + Send>, rx: Receiver<Frame>) {
    for frame in rx {
        if frame.write_to(&mut w).is_err() {
            // The host went away; what it would have read is lost anyway.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Port {
    /// Sends a frame to the host (queued; never blocks).
    pub fn send(&self, kind: Kind, tag: u32, payload: impl Into<Vec<u8>>) {
        let _ = self.tx.send(Frame::new(kind, tag, payload));
    }
}

/// A launched job's host-side state.
struct Launched {
    tag: u32,
    /// `JobStart` data, until sent.
    start: Option<Vec<u8>>,
    spec_counts: (usize, usize, u64, usize),
    /// Write end of the stdin pipe (non-blocking), until end of file.
    stdin: Option<OwnedFd>,
    pending: VecDeque<u8>,
    stdin_eof: bool,
    exit: Sender<ExitStatus>,
}

/// The launched jobs and the port.
pub struct Launcher {
    port: Port,
    jobs: HashMap<JobId, Launched>,
    /// `JobStart` sequence numbers awaiting an answer: the job and its tag.
    starts: HashMap<u64, (JobId, u32)>,
    next: u32,
}

impl Launcher {
    pub fn new(port: Port) -> Launcher {
        let launcher = Launcher {
            port,
            jobs: HashMap::new(),
            starts: HashMap::new(),
            next: 0,
        };
        launcher.port.send(
            Kind::Hello,
            0,
            format!("version=1 pid={}", std::process::id()),
        );
        launcher
    }

    pub fn port(&self) -> &Port {
        &self.port
    }

    /// While no LWK is attached: launches are refused at once (the host
    /// waits for `Attached` first), stdin for unknown jobs dropped.
    pub fn idle(&mut self) {
        while let Ok(frame) = self.port.rx.try_recv() {
            match frame.kind {
                Kind::Launch => self.port.send(
                    Kind::Error,
                    frame.tag,
                    "the LWK is not attached to the channel",
                ),
                Kind::KillDaemon => sys::kill_self(),
                _ => {}
            }
        }
    }

    /// One round while attached: takes the host's frames, sends queued job
    /// starts, reads their answers, feeds stdin pipes. Returns whether work
    /// is left for the next round (the caller then polls sooner).
    pub fn round(&mut self, endpoint: &mut LinuxEndpoint, jobs: &mut Jobs) -> bool {
        while let Ok(frame) = self.port.rx.try_recv() {
            self.frame(frame, endpoint, jobs);
        }
        self.send_starts(endpoint, jobs);
        self.answers(endpoint);
        self.feed_stdin();
        self.jobs
            .values()
            .any(|l| l.start.is_some() || !l.pending.is_empty())
            || !self.starts.is_empty()
    }

    fn frame(&mut self, frame: Frame, endpoint: &mut LinuxEndpoint, jobs: &mut Jobs) {
        match frame.kind {
            Kind::Launch => match Launch::decode(&frame.payload) {
                Some(launch) => {
                    if let Err(why) = self.launch(frame.tag, &launch, endpoint, jobs) {
                        self.port.send(Kind::Error, frame.tag, why);
                    }
                }
                None => self
                    .port
                    .send(Kind::Error, frame.tag, "malformed launch request"),
            },
            Kind::Stdin => {
                if let Some(l) = self.jobs.values_mut().find(|l| l.tag == frame.tag) {
                    if frame.payload.is_empty() {
                        l.stdin_eof = true;
                    } else if l.stdin.is_some() {
                        l.pending.extend(&frame.payload);
                    }
                }
            }
            Kind::KillDaemon => sys::kill_self(),
            _ => {}
        }
    }

    /// Creates the job and queues its `JobStart`.
    fn launch(
        &mut self,
        tag: u32,
        launch: &Launch,
        endpoint: &LinuxEndpoint,
        jobs: &mut Jobs,
    ) -> Result<(), String> {
        let argv: Vec<&[u8]> = launch.argv.iter().map(Vec::as_slice).collect();
        let envp: Vec<&[u8]> = launch.envp.iter().map(Vec::as_slice).collect();
        let spec = JobSpec {
            exe: &launch.exe,
            argv: &argv,
            envp: &envp,
            cores: launch.cores,
        };
        let mut data = vec![0u8; SLOT_DATA_SIZE];
        let len = spec.encode(&mut data).map_err(|e| {
            format!("cannot describe the job to the LWK: {e} (one channel slot holds {SLOT_DATA_SIZE} bytes of path, arguments and environment)")
        })?;
        data.truncate(len);
        self.next = self.next.wrapping_add(1) & 0xffff;
        let id = JobId(((endpoint.liveness.generation() as u32 & 0xffff) << 16) | self.next.max(1));
        let fail = |what: &str, e: Errno| format!("cannot {what} for the job: {e}");
        let (stdin_r, stdin_w) = sys::pipe().map_err(|e| fail("make a pipe", e))?;
        let (stdout_r, stdout_w) = sys::pipe().map_err(|e| fail("make a pipe", e))?;
        let (stderr_r, stderr_w) = sys::pipe().map_err(|e| fail("make a pipe", e))?;
        sys::fcntl_int(stdin_w.as_fd(), libc::F_SETFL, libc::O_NONBLOCK.into())
            .map_err(|e| fail("set up stdin", e))?;
        for fd in [&stdout_w, &stderr_w, &stdin_w] {
            // Fewer, larger relay rounds; the default 64 KiB is fine too.
            let _ = sys::fcntl_int(fd.as_fd(), libc::F_SETPIPE_SZ, 1 << 20);
        }
        let job = Job::with_stdio(&jobs.root, [stdin_r, stdout_w, stderr_w])
            .map_err(|e| fail("create the state", e))?;
        jobs.insert(id, job).map_err(|e| fail("number", e))?;
        let (exit, exit_rx) = mpsc::channel();
        let tx = self.port.tx.clone();
        std::thread::spawn(move || relay(tag, stdout_r, stderr_r, exit_rx, tx));
        self.jobs.insert(
            id,
            Launched {
                tag,
                start: Some(data),
                spec_counts: (argv.len(), envp.len(), launch.cores, launch.exe.len()),
                stdin: Some(stdin_w),
                pending: VecDeque::new(),
                stdin_eof: false,
                exit,
            },
        );
        println!(
            "LWK-JOB-LAUNCH job={} tag={tag} exe={}",
            id.0,
            String::from_utf8_lossy(&launch.exe)
        );
        Ok(())
    }

    fn send_starts(&mut self, endpoint: &mut LinuxEndpoint, jobs: &mut Jobs) {
        let mut failed = Vec::new();
        for (&id, l) in &mut self.jobs {
            let Some(data) = &l.start else { continue };
            let (argc, envc, cores, exe_len) = l.spec_counts;
            let call = channel::Call::new(id, channel::Opcode::JobStart)
                .arg(0, argc as u64)
                .arg(1, envc as u64)
                .arg(2, cores)
                .arg(3, exe_len as u64);
            match endpoint.control.send(call, data) {
                Ok(seq) => {
                    self.starts.insert(seq, (id, l.tag));
                    l.start = None;
                }
                Err(ChannelError::Full) => {}
                Err(e) => failed.push((id, l.tag, e)),
            }
        }
        for (id, tag, e) in failed {
            self.port
                .send(Kind::Error, tag, format!("cannot send JobStart: {e}"));
            self.jobs.remove(&id);
            jobs.end(id);
        }
    }

    /// Answers to `JobStart`, reported to the host.
    fn answers(&mut self, endpoint: &mut LinuxEndpoint) {
        for _ in 0..16 {
            match endpoint.control.try_recv() {
                Ok(Some(incoming)) => {
                    let response = *incoming.response();
                    incoming.release();
                    let Some((id, tag)) = self.starts.remove(&response.seq) else {
                        continue;
                    };
                    println!("LWK-JOB-START job={} result={}", id.0, response.result);
                    self.port
                        .send(Kind::Started, tag, started_payload(response.result, id.0));
                }
                Ok(None) => return,
                Err(e) => {
                    println!("LWK-CHANNEL-CONTROL-ERROR {e}");
                    return;
                }
            }
        }
    }

    /// Writes what the host sent to the stdin pipes, as much as fits.
    fn feed_stdin(&mut self) {
        for l in self.jobs.values_mut() {
            let Some(fd) = &l.stdin else { continue };
            while !l.pending.is_empty() {
                let (front, _) = l.pending.as_slices();
                match sys::write(fd.as_fd(), front) {
                    Ok(n) => {
                        l.pending.drain(..n);
                    }
                    Err(e) if e == Errno::EAGAIN => break,
                    Err(_) => {
                        // EPIPE: the job closed its end; nobody reads.
                        l.pending.clear();
                        l.stdin_eof = true;
                    }
                }
            }
            if l.stdin_eof && l.pending.is_empty() {
                l.stdin = None;
            }
        }
    }

    /// Job `id`'s `JobExit` arrived: its relay reports it once its output
    /// is drained (the caller ends the job, closing the pipes). The answer
    /// to its `JobStart` (sent before the `JobExit`) is reported first.
    pub fn ended(&mut self, endpoint: &mut LinuxEndpoint, id: JobId, exit: &JobExit) {
        self.answers(endpoint);
        if let Some(l) = self.jobs.remove(&id) {
            let status = match *exit {
                JobExit::Exited { code } => ExitStatus::Exited(code),
                JobExit::Signaled { signal, .. } => ExitStatus::Signaled(signal),
            };
            let _ = l.exit.send(status);
        }
    }

    /// The LWK went away: every launched job is lost.
    pub fn clear(&mut self) {
        self.jobs.clear();
        self.starts.clear();
    }
}

/// A job's output relay: both pipes to the host until end of file, then
/// the exit status.
fn relay(
    tag: u32,
    stdout: OwnedFd,
    stderr: OwnedFd,
    exit: Receiver<ExitStatus>,
    tx: Sender<Frame>,
) {
    let mut open = [Some((stdout, Kind::Stdout)), Some((stderr, Kind::Stderr))];
    let mut buf = vec![0u8; CHUNK];
    while open.iter().any(Option::is_some) {
        let live: Vec<usize> = (0..2).filter(|&i| open[i].is_some()).collect();
        let fds: Vec<_> = live
            .iter()
            .filter_map(|&i| open[i].as_ref())
            .map(|(fd, _)| (fd.as_fd(), libc::POLLIN))
            .collect();
        let Ok(events) = sys::poll(&fds, -1) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        drop(fds);
        for (&i, ev) in live.iter().zip(events) {
            if ev == 0 {
                continue;
            }
            let Some((fd, kind)) = &open[i] else { continue };
            match sys::read(fd.as_fd(), &mut buf) {
                Ok(0) | Err(_) => open[i] = None,
                Ok(n) => {
                    let _ = tx.send(Frame::new(*kind, tag, buf[..n].to_vec()));
                }
            }
        }
    }
    let status = exit.recv().unwrap_or(ExitStatus::Lost);
    let _ = tx.send(Frame::new(Kind::Exit, tag, status.encode()));
}
