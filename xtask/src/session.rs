//! One boot of the whole system for running jobs: the seL4 machine (or the
//! host stand-in for the LWK) and the Linux VM on one `/dev/shm` region,
//! the job's directory shared over 9p, program directories shared
//! read-only, and the launch channel (a Unix socket QEMU connects the VM's
//! `lwk.launch` virtio-serial port to). Used by `cargo xtask run` and the
//! job tests, which run many jobs in one boot.
//!
//! Both consoles go to logs (`target/lwk/logs/<tag>-sel4.log`,
//! `<tag>-linux-vm.log`) and are watched on threads: a panic, a failure
//! marker or a QEMU exit ends every wait with that reason, so nothing
//! hangs on a machine that is gone. Dropping the session kills both.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::layout::{self, Variant};
use crate::linuxvm::launch::{Conn, ExitStatus, Frame, Kind, Launch, Writer};
use crate::linuxvm::standin::StandIn;
use crate::linuxvm::{self, image, Extras, ShmFile};
use crate::proc::step;
use crate::qemu::{Check, Killer, Machine};

/// What plays the LWK.
#[derive(Clone, Debug)]
pub enum Lwk {
    /// The seL4 machine with the personality.
    Sel4 {
        variant: Variant,
        nodes: u32,
        mem: String,
    },
    /// A host thread following the personality's contract, running the
    /// programs natively (tests of the Linux side without seL4).
    StandIn,
}

/// How to boot.
#[derive(Clone, Debug)]
pub struct Config {
    pub lwk: Lwk,
    /// Start the Linux VM (false only to test its absence).
    pub linux_vm: bool,
    /// The jobs' root (their `/` and cwd).
    pub share: PathBuf,
    /// Directories of programs outside `share` (each seen as `/.lwk/<i>`).
    pub programs: Vec<PathBuf>,
    /// How long both machines may take until the daemon reports the LWK
    /// attached.
    pub attach_timeout: Duration,
    /// Log file names: `<tag>-sel4.log`, `<tag>-linux-vm.log`.
    pub tag: String,
    /// Copy both consoles to stderr.
    pub echo: bool,
}

/// Console lines worth keeping, and the first fatal event.
#[derive(Default)]
struct Shared {
    fatal: Option<String>,
    stopping: bool,
    /// `(machine, line)` for lines with a marker of interest.
    lines: Vec<(&'static str, String)>,
}

/// Lines kept from the consoles (for the tests and error messages).
const KEEP: &[&str] = &[
    "LWK-CHANNEL",
    "JOB-",
    "LINUX-VM-",
    "PERSONALITY-OK",
    "ROOT-TASK-OK",
];
/// Lines that end the session.
const FATAL: &[&str] = &[
    "PANIC:",
    "ROOT-TASK-FAIL",
    "COMPONENT-FAIL",
    "LINUX-VM-FAIL",
];

/// A machine whose console a thread watches.
struct Watched {
    killer: Killer,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.killer.kill();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch(
    cmd: Command,
    name: &'static str,
    log: PathBuf,
    shared: Arc<Mutex<Shared>>,
    echo: bool,
) -> Result<Watched> {
    let mut machine = Machine::spawn(cmd)?;
    let killer = machine.killer();
    let thread = thread::spawn(move || {
        let s = shared.clone();
        let outcome = machine.watch(&log, Duration::from_secs(7 * 86400), "", |line| {
            if echo {
                eprintln!("[{name}] {line}");
            }
            let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
            if KEEP.iter().any(|k| line.contains(k)) {
                s.lines.push((name, line.to_string()));
            }
            if let Some(k) = FATAL.iter().find(|k| line.contains(**k)) {
                let at = line.find(k).unwrap_or(0);
                s.fatal.get_or_insert_with(|| {
                    format!("{name}: {} (console log: {})", &line[at..], log.display())
                });
            }
            Check::Continue
        });
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        if !s.stopping {
            let why = match outcome {
                Ok(o) => o.verdict.err().unwrap_or_else(|| "stopped".into()),
                Err(e) => format!("{e:#}"),
            };
            s.fatal
                .get_or_insert_with(|| format!("{name}: {why} (console log: {})", log.display()));
        }
    });
    Ok(Watched {
        killer,
        thread: Some(thread),
    })
}

/// A job to launch.
pub struct Job<'a> {
    /// The program's canonical host path.
    pub program: &'a Path,
    pub argv: &'a [Vec<u8>],
    /// `NAME=value` strings.
    pub env: &'a [Vec<u8>],
}

/// Where a job's standard input comes from.
pub enum Stdin {
    /// End of file at once.
    Null,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// This process's standard input (a thread relays it).
    Inherit,
}

/// A running boot.
pub struct Session {
    shared: Arc<Mutex<Shared>>,
    // Field order is drop order: stop the machines before removing files.
    linux: Option<Watched>,
    sel4: Option<Watched>,
    standin: Option<StandIn>,
    conn: Option<Conn>,
    attached: bool,
    next_tag: u32,
    cores: u64,
    share: PathBuf,
    programs: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
    sock: Option<PathBuf>,
    _shm: ShmFile,
    dir: PathBuf,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stopping = true;
        if let Some(s) = &self.standin {
            s.stop();
        }
        self.conn = None;
        self.linux = None;
        self.sel4 = None;
        self.standin = None;
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(sock) = &self.sock {
            let _ = std::fs::remove_file(sock);
        }
    }
}

/// The application nodes of an `n`-node machine as a core mask: all but
/// node 0 (the personality's control node), or node 0 alone.
pub fn app_cores(nodes: u32) -> u64 {
    if nodes <= 1 {
        1
    } else {
        ((1u64 << nodes.min(63)) - 1) & !1
    }
}

/// The directories to share read-only so that each of `programs` (canonical
/// paths) can be loaded: those of programs outside `share`, once each.
pub fn program_dirs(share: &Path, programs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for p in programs {
        if p.starts_with(share) {
            continue;
        }
        if let Some(dir) = p.parent() {
            if !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_path_buf());
            }
        }
    }
    dirs
}

/// The path a job opens to load `program` (canonical): below its root
/// when inside `share`, else through the program tree `/.lwk/<i>/NAME`.
pub fn exe_path(share: &Path, programs: &[PathBuf], program: &Path) -> Result<Vec<u8>> {
    if let Ok(rel) = program.strip_prefix(share) {
        let mut p = b"/".to_vec();
        p.extend_from_slice(rel.as_os_str().as_bytes());
        return Ok(p);
    }
    let dir = program.parent().context("a program path has a directory")?;
    let i = programs
        .iter()
        .position(|d| d == dir)
        .with_context(|| format!("{} is in no shared directory", program.display()))?;
    let name = program.file_name().context("a program path has a name")?;
    let mut p = format!("/.lwk/{i}/").into_bytes();
    p.extend_from_slice(name.as_bytes());
    Ok(p)
}

impl Session {
    /// Boots and waits until the Linux VM's daemon reports the LWK attached.
    pub fn start(config: &Config) -> Result<Session> {
        let dir =
            layout::lwk_dir()
                .join("run")
                .join(format!("{}-{}", std::process::id(), config.tag));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let logs_dir = layout::logs_dir();
        std::fs::create_dir_all(&logs_dir)?;
        let shm = ShmFile::fresh(&config.tag)?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut session = Session {
            shared: shared.clone(),
            linux: None,
            sel4: None,
            standin: None,
            conn: None,
            attached: false,
            next_tag: 0,
            cores: u64::MAX,
            share: config.share.clone(),
            programs: config.programs.clone(),
            logs: Vec::new(),
            sock: None,
            _shm: shm,
            dir: dir.clone(),
        };
        let shm_path = session._shm.path.clone();
        crate::qemu::remove_on_interrupt(&shm_path);
        crate::qemu::remove_on_interrupt(&dir);

        let listener = if config.linux_vm {
            // In the temporary directory: a Unix socket path must stay
            // under 108 bytes, whatever the checkout's path.
            let sock = std::env::temp_dir().join(format!(
                "lwk-launch-{}-{}.sock",
                std::process::id(),
                config.tag
            ));
            let _ = std::fs::remove_file(&sock);
            crate::qemu::remove_on_interrupt(&sock);
            session.sock = Some(sock.clone());
            let listener = UnixListener::bind(&sock)
                .with_context(|| format!("cannot listen on {}", sock.display()))?;
            let image = image::build()?;
            let extras = Extras {
                programs: config.programs.clone(),
                launch: Some(sock),
            };
            let log = logs_dir.join(format!("{}-linux-vm.log", config.tag));
            // LWK_DAEMON_TRACE=1: the daemon traces every call (VM log).
            let trace = std::env::var_os("LWK_DAEMON_TRACE").is_some_and(|v| v == "1");
            let cmd = linuxvm::qemu_command_with(&image, &shm_path, &config.share, trace, &extras);
            session.linux = Some(watch(
                cmd,
                "linux-vm",
                log.clone(),
                shared.clone(),
                config.echo,
            )?);
            session.logs.push(log);
            Some(listener)
        } else {
            None
        };
        match &config.lwk {
            Lwk::Sel4 {
                variant,
                nodes,
                mem,
            } => {
                let mut cmd = Command::new(variant.simulate_script());
                // The session starts the Linux VM itself.
                cmd.args([
                    "--no-linux-vm",
                    "--smp",
                    &nodes.to_string(),
                    "--mem-size",
                    mem,
                ]);
                cmd.arg("--extra-qemu-args").arg(format!(
                    "-object memory-backend-file,id=shm,mem-path={},size=16M,share=on -device ivshmem-plain,memdev=shm",
                    shm_path.display()
                ));
                let log = logs_dir.join(format!("{}-sel4.log", config.tag));
                session.sel4 = Some(watch(
                    cmd,
                    "sel4",
                    log.clone(),
                    shared.clone(),
                    config.echo,
                )?);
                session.logs.push(log);
                session.cores = app_cores(*nodes);
            }
            Lwk::StandIn => {
                session.standin = Some(StandIn::start(shm_path.clone(), config.share.clone()));
            }
        }
        step(format!(
            "{}: booting {}{}; waiting up to {} s for the LWK and the Linux VM to attach",
            config.tag,
            match &config.lwk {
                Lwk::Sel4 { variant, nodes, .. } => format!("seL4 ({variant}, {nodes} nodes)"),
                Lwk::StandIn => "the LWK stand-in".into(),
            },
            if config.linux_vm {
                " and the Linux VM"
            } else {
                " without a Linux VM"
            },
            config.attach_timeout.as_secs()
        ));
        let started = Instant::now();
        let deadline = started + config.attach_timeout;
        let Some(listener) = listener else {
            // No Linux VM: nothing can attach; say how far the LWK got.
            while Instant::now() < deadline {
                session.check_alive()?;
                thread::sleep(Duration::from_millis(100));
            }
            bail!(
                "no Linux VM attached within {} s: the LWK cannot load or serve a program without it (LWK console: {})",
                config.attach_timeout.as_secs(),
                session.marker_summary()
            );
        };
        let conn = Conn::accept(&listener, config.attach_timeout, || session.fatal())?;
        session.conn = Some(conn);
        session.wait_attached(deadline)?;
        step(format!(
            "{}: attached after {:.1} s",
            config.tag,
            started.elapsed().as_secs_f64()
        ));
        Ok(session)
    }

    /// The first fatal console event, if any.
    fn fatal(&self) -> Option<String> {
        let s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.fatal
            .clone()
            .or_else(|| self.standin.as_ref().and_then(StandIn::failed))
    }

    fn check_alive(&self) -> Result<()> {
        match self.fatal() {
            Some(why) => bail!("{why}"),
            None => Ok(()),
        }
    }

    /// The channel markers the consoles showed, for error messages.
    fn marker_summary(&self) -> String {
        let s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let seen: Vec<String> = s
            .lines
            .iter()
            .filter(|(_, l)| l.contains("LWK-CHANNEL") || l.contains("LINUX-VM-READY"))
            .map(|(m, l)| format!("{m}: {}", l.trim()))
            .collect();
        if seen.is_empty() {
            "no channel markers".into()
        } else {
            seen.join("; ")
        }
    }

    /// Console lines kept so far (machine, line).
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lines
            .clone()
    }

    fn conn(&self) -> Result<&Conn> {
        self.conn.as_ref().context("no launch channel")
    }

    /// The next frame from the daemon within `wait`, tracking whether the
    /// LWK is attached; fails if a machine died.
    pub fn event(&mut self, wait: Duration) -> Result<Option<Frame>> {
        self.check_alive()?;
        let frame = self.conn()?.recv(wait)?;
        if let Some(f) = &frame {
            match f.kind {
                Kind::Attached => self.attached = true,
                Kind::Hello | Kind::Detached => self.attached = false,
                _ => {}
            }
        }
        Ok(frame)
    }

    /// Waits for `Attached` (the daemon is up and the LWK formatted).
    pub fn wait_attached(&mut self, deadline: Instant) -> Result<()> {
        while !self.attached {
            if Instant::now() >= deadline {
                bail!(
                    "the Linux VM's daemon did not attach to the LWK in time ({})",
                    self.marker_summary()
                );
            }
            self.event(Duration::from_millis(100))?;
        }
        Ok(())
    }

    /// The daemon kills itself (the VM's init starts it again).
    pub fn kill_daemon(&self) -> Result<()> {
        self.conn()?.send(Kind::KillDaemon, 0, Vec::new())
    }

    /// Launches `job`; returns its tag.
    pub fn launch(&mut self, job: &Job, stdin: Stdin) -> Result<u32> {
        let exe = exe_path(&self.share, &self.programs, job.program)?;
        self.next_tag += 1;
        let tag = self.next_tag;
        let launch = Launch {
            cores: self.cores,
            exe,
            argv: job.argv.to_vec(),
            envp: job.env.to_vec(),
        };
        let conn = self.conn()?;
        conn.send(Kind::Launch, tag, launch.encode())?;
        match stdin {
            Stdin::Null => conn.send(Kind::Stdin, tag, Vec::new())?,
            Stdin::Bytes(bytes) => {
                let w = conn.writer();
                thread::spawn(move || feed(&w, tag, &mut &bytes[..]));
            }
            Stdin::Inherit => {
                let w = conn.writer();
                thread::spawn(move || feed(&w, tag, &mut std::io::stdin().lock()));
            }
        }
        Ok(tag)
    }

    /// Runs job `tag` to its end: output to `out`/`err`, the status back.
    /// A daemon restart in between loses the job (`ExitStatus::Lost`).
    pub fn finish(
        &mut self,
        tag: u32,
        out: &mut dyn Write,
        err: &mut dyn Write,
        timeout: Duration,
    ) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if Instant::now() >= deadline {
                bail!("the job did not end within {} s", timeout.as_secs());
            }
            let Some(frame) = self.event(Duration::from_millis(100))? else {
                continue;
            };
            match frame.kind {
                Kind::Stdout if frame.tag == tag => {
                    out.write_all(&frame.payload)?;
                    out.flush()?;
                }
                Kind::Stderr if frame.tag == tag => {
                    err.write_all(&frame.payload)?;
                    err.flush()?;
                }
                Kind::Started if frame.tag == tag => {
                    if let Some((result, _)) =
                        lwk_linux_daemon::launch_wire::decode_started(&frame.payload)
                    {
                        if result < 0 {
                            let errno = channel::Errno::try_from((-result) as u32)
                                .map_or_else(|_| format!("error {}", -result), |e| e.to_string());
                            step(format!("the LWK could not start the program: {errno}"));
                        }
                    }
                }
                Kind::Exit if frame.tag == tag => {
                    return ExitStatus::decode(&frame.payload).context("malformed exit frame");
                }
                Kind::Error if frame.tag == tag => {
                    bail!("the Linux VM refused the job: {}", frame.text());
                }
                Kind::Hello => {
                    step("the Linux VM's daemon restarted: the job is lost");
                    return Ok(ExitStatus::Lost);
                }
                _ => {}
            }
        }
    }

    /// [`launch`](Self::launch) + [`finish`](Self::finish), waiting for
    /// the LWK to be attached first.
    pub fn run(
        &mut self,
        job: &Job,
        stdin: Stdin,
        out: &mut dyn Write,
        err: &mut dyn Write,
        timeout: Duration,
    ) -> Result<ExitStatus> {
        self.wait_attached(Instant::now() + timeout)?;
        let tag = self.launch(job, stdin)?;
        self.finish(tag, out, err, timeout)
    }
}

/// Sends `input` as `Stdin` frames, then end of file.
fn feed(w: &Writer, tag: u32, input: &mut dyn std::io::Read) {
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let n = input.read(&mut buf).unwrap_or(0);
        if w.send(Kind::Stdin, tag, buf[..n].to_vec()).is_err() || n == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_resolve_inside_the_share_or_through_program_trees() {
        let share = Path::new("/home/u/work");
        let progs = [
            PathBuf::from("/usr/bin/busybox"),
            PathBuf::from("/home/u/work/bin/tool"),
            PathBuf::from("/usr/bin/env"),
            PathBuf::from("/opt/x/prog"),
        ];
        let dirs = program_dirs(share, &progs);
        assert_eq!(dirs, [PathBuf::from("/usr/bin"), PathBuf::from("/opt/x")]);
        let path =
            |p: &str| String::from_utf8(exe_path(share, &dirs, Path::new(p)).unwrap()).unwrap();
        assert_eq!(path("/usr/bin/busybox"), "/.lwk/0/busybox");
        assert_eq!(path("/opt/x/prog"), "/.lwk/1/prog");
        assert_eq!(path("/home/u/work/bin/tool"), "/bin/tool");
        assert!(exe_path(share, &dirs, Path::new("/elsewhere/p")).is_err());
        assert_eq!(app_cores(1), 1);
        assert_eq!(app_cores(4), 0b1110);
    }
}
