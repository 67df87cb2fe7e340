//! Boot a machine through its `simulate` script and watch the console.
//!
//! The harness, independent of what a test expects to read:
//!
//! - the script runs in its own process group with stdin null and its output
//!   piped, so the whole group (QEMU, and the Linux VM once the script starts
//!   one) can be killed at once;
//! - console lines are read on threads and handed over a channel, so the
//!   caller waits with a deadline instead of blocking on a silent guest;
//! - the group is killed whatever happens: on a verdict, on timeout, when the
//!   [`Machine`] is dropped (also while unwinding from an error), when this
//!   tool is interrupted (SIGINT/SIGTERM/SIGHUP), and, through the kernel's
//!   parent-death signal, even when this tool is killed outright;
//! - every line goes to a log file as it arrives, so a log survives all of
//!   the above.

use std::fs::File;
use std::io::{BufRead, BufReader, LineWriter, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::proc::{self, step};

/// What a console check says after reading a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Keep reading.
    Continue,
    /// The run passed: stop now.
    Pass,
    /// The run failed for this reason: stop now.
    Fail(String),
    /// Not decided yet, but give up after this much more time, for this
    /// reason (e.g. a final line came but some expected line is missing).
    Grace(Duration, String),
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// `Ok` on [`Check::Pass`], else why not.
    pub verdict: Result<(), String>,
    /// Time from spawning to the first line containing the marker, if seen.
    pub marker_after: Option<Duration>,
    /// Time from spawning to the verdict.
    pub elapsed: Duration,
}

/// A console event from a reader thread.
enum Event {
    Line(String),
    Stderr(String),
    /// Standard output closed: the machine has exited.
    StdoutClosed,
}

/// A running machine in its own process group. Dropping it kills the group.
pub struct Machine {
    child: Child,
    events: Receiver<Event>,
    started: Instant,
    exited: Option<ExitStatus>,
}

/// Process groups alive right now, for the interrupt handler.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Files the interrupt handler removes (shared-memory regions, sockets),
/// since an interrupted run exits without running destructors.
static REMOVE_ON_INTERRUPT: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

/// Removes `path` if this tool is interrupted (SIGINT/SIGTERM/SIGHUP).
pub fn remove_on_interrupt(path: &Path) {
    install_interrupt_handler();
    REMOVE_ON_INTERRUPT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.to_path_buf());
}

impl Machine {
    /// Spawns `cmd` (a `simulate` invocation) as the leader of a new process
    /// group.
    pub fn spawn(mut cmd: Command) -> Result<Machine> {
        install_interrupt_handler();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls prctl, which is async-signal-safe. PDEATHSIG survives
        // the script's `exec` of QEMU; it kills QEMU if we die without a
        // chance to clean up (SIGKILL).
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start `{}`", proc::display(&cmd)))?;
        let started = Instant::now();
        let pgid = child.id() as i32;
        LIVE_GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pgid);

        let (tx, events) = mpsc::channel();
        let stdout = child.stdout.take().context("child stdout not piped")?;
        let stderr = child.stderr.take().context("child stderr not piped")?;
        spawn_reader(stdout, tx.clone(), Event::Line, Some(Event::StdoutClosed));
        spawn_reader(stderr, tx, Event::Stderr, None);
        Ok(Machine {
            child,
            events,
            started,
            exited: None,
        })
    }

    /// Reads the console until `check` decides or `timeout` passes, copying
    /// every line to `log`. `marker` times the first line containing it.
    pub fn watch(
        &mut self,
        log: &Path,
        timeout: Duration,
        marker: &str,
        mut check: impl FnMut(&str) -> Check,
    ) -> Result<Outcome> {
        let file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut log_out = LineWriter::new(file);
        let mut deadline = self.started + timeout;
        let mut timeout_reason = format!("timed out after {} s", timeout.as_secs());
        let mut marker_after = None;
        // Says where a silent or dead machine got to.
        let mut last_line = String::new();
        let last = |line: &str| {
            if line.is_empty() {
                "no console output".to_string()
            } else {
                format!("last console line: {line:?}")
            }
        };

        let verdict = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.events.recv_timeout(left) {
                Ok(Event::Line(line)) => line,
                Ok(Event::Stderr(line)) => {
                    writeln!(log_out, "[stderr] {line}")?;
                    continue;
                }
                Ok(Event::StdoutClosed) | Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(Duration::from_secs(2));
                    break Err(format!(
                        "QEMU exited ({status}) before a verdict; {}",
                        last(&last_line)
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {
                    break Err(format!("{timeout_reason}; {}", last(&last_line)))
                }
            };
            writeln!(log_out, "{line}")?;
            if !line.trim().is_empty() {
                last_line = line.trim().to_string();
            }
            if marker_after.is_none() && line.contains(marker) {
                marker_after = Some(self.started.elapsed());
            }
            match check(&line) {
                Check::Continue => {}
                Check::Pass => break Ok(()),
                Check::Fail(reason) => break Err(reason),
                Check::Grace(grace, reason) => {
                    deadline = deadline.min(Instant::now() + grace);
                    timeout_reason = reason;
                }
            }
        };
        let elapsed = self.started.elapsed();
        self.kill();
        // Lines that raced with the verdict still belong in the log.
        while let Ok(event) = self.events.recv_timeout(Duration::from_millis(200)) {
            match event {
                Event::Line(line) => writeln!(log_out, "{line}")?,
                Event::Stderr(line) => writeln!(log_out, "[stderr] {line}")?,
                Event::StdoutClosed => break,
            }
        }
        log_out.flush()?;
        Ok(Outcome {
            verdict,
            marker_after,
            elapsed,
        })
    }

    /// Waits a little for the child's exit status, for the failure message.
    fn wait_exit(&mut self, patience: Duration) -> String {
        let until = Instant::now() + patience;
        while Instant::now() < until {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.exited = Some(status);
                    return status.to_string();
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => return format!("status unknown: {e}"),
            }
        }
        "still running, output closed".to_string()
    }

    /// Kills the whole process group and reaps the leader. Idempotent.
    pub fn kill(&mut self) {
        let pgid = self.child.id() as i32;
        let mut groups = LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = groups.iter().position(|&g| g == pgid) {
            groups.swap_remove(i);
            // The group outlives its leader if the leader alone exited, so
            // kill it even when the leader is already reaped.
            kill_group(pgid);
        }
        drop(groups);
        if self.exited.is_none() {
            self.exited = self.child.wait().ok();
        }
    }
}

/// Kills a machine's process group from another thread (the one calling
/// [`Machine::watch`] then sees the console close and returns).
#[derive(Clone, Copy, Debug)]
pub struct Killer(i32);

impl Killer {
    pub fn kill(self) {
        let mut groups = LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = groups.iter().position(|&g| g == self.0) {
            groups.swap_remove(i);
            kill_group(self.0);
        }
    }
}

impl Machine {
    /// A handle that kills this machine's group.
    pub fn killer(&self) -> Killer {
        Killer(self.child.id() as i32)
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends SIGKILL to every process of a group (ESRCH, "already gone", is fine).
fn kill_group(pgid: i32) {
    // SAFETY: kill has no memory-safety preconditions. A negative pid names
    // the group; Linux keeps a group id reserved while any member lives, so
    // this reaches a stranger only if the group emptied and its id was reused
    // in the moments since, which a test harness can accept.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// On SIGINT/SIGTERM/SIGHUP, kill every live machine before exiting: they
/// run in their own process groups, so the terminal's Ctrl-C never reaches
/// them and nothing else would.
fn install_interrupt_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let result = ctrlc::set_handler(|| {
            let groups = LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
            for &pgid in groups.iter() {
                kill_group(pgid);
            }
            let files = REMOVE_ON_INTERRUPT
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for f in files.iter() {
                let _ = std::fs::remove_file(f);
                let _ = std::fs::remove_dir_all(f);
            }
            step("interrupted: killed running QEMU machines");
            std::process::exit(130);
        });
        if let Err(e) = result {
            step(format!(
                "warning: no interrupt handler ({e}); QEMU may outlive Ctrl-C"
            ));
        }
    });
}

/// Forwards the lines of `stream` as events, then `at_end` (if any).
fn spawn_reader<R: Read + Send + 'static>(
    stream: R,
    tx: Sender<Event>,
    wrap: fn(String) -> Event,
    at_end: Option<Event>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if tx.send(wrap(line)).is_err() {
                        return;
                    }
                }
            }
        }
        if let Some(event) = at_end {
            let _ = tx.send(event);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    /// A log path unique to each call (tests run in parallel threads).
    fn log() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("xtask-qemu-test-{}-{n}.log", std::process::id()))
    }

    #[test]
    fn passes_on_expected_line_and_times_marker() {
        let mut m =
            Machine::spawn(sh("echo hello; echo 'x LWK root task'; echo OK; sleep 30")).unwrap();
        let log = log();
        let out = m
            .watch(&log, Duration::from_secs(10), "LWK root task", |l| {
                if l == "OK" {
                    Check::Pass
                } else {
                    Check::Continue
                }
            })
            .unwrap();
        assert_eq!(out.verdict, Ok(()));
        assert!(out.marker_after.is_some());
        assert!(
            out.elapsed < Duration::from_secs(10),
            "group not killed promptly"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.starts_with("hello\nx LWK root task\nOK\n"));
        std::fs::remove_file(log).unwrap();
    }

    #[test]
    fn fails_on_exit_and_on_timeout() {
        let log = log();
        let mut m = Machine::spawn(sh("echo bye >&2; exit 3")).unwrap();
        let out = m
            .watch(&log, Duration::from_secs(10), "-", |_| Check::Continue)
            .unwrap();
        assert!(out.verdict.unwrap_err().contains("exited"));
        assert!(std::fs::read_to_string(&log)
            .unwrap()
            .contains("[stderr] bye"));

        let mut m = Machine::spawn(sh("sleep 30")).unwrap();
        let out = m
            .watch(&log, Duration::from_millis(300), "-", |_| Check::Continue)
            .unwrap();
        assert!(out.verdict.unwrap_err().contains("timed out"));
        std::fs::remove_file(log).unwrap();
    }

    #[test]
    fn grace_shortens_the_deadline() {
        let log = log();
        let mut m = Machine::spawn(sh("echo final; sleep 30")).unwrap();
        let out = m
            .watch(&log, Duration::from_secs(20), "-", |_| {
                Check::Grace(Duration::from_millis(200), "missing lines".into())
            })
            .unwrap();
        assert!(out
            .verdict
            .unwrap_err()
            .starts_with("missing lines; last console line: \"final\""));
        assert!(out.elapsed < Duration::from_secs(5));
        std::fs::remove_file(log).unwrap();
    }

    #[test]
    fn drop_kills_the_whole_group() {
        let pidfile = log().with_extension("pid");
        let script = format!(
            "sleep 30 & echo $! > {0}.tmp && mv {0}.tmp {0}; wait",
            pidfile.display()
        );
        let m = Machine::spawn(sh(&script)).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while !pidfile.exists() && Instant::now() < until {
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(50));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        drop(m);
        thread::sleep(Duration::from_millis(100));
        // Gone, or a zombie waiting for its new parent to reap it.
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "));
        assert!(!alive, "grandchild {pid} survived");
        std::fs::remove_file(pidfile).unwrap();
    }
}
