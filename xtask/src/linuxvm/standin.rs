//! A stand-in for the LWK personality on this host, for testing job launch
//! without seL4: it maps the region file, formats it as the LWK does, and
//! serves `JobStart` by following the personality's contract — it loads the
//! executable through forwarded calls of the new job (`openat`, `fstat`,
//! `pread64` chunks, `close`), answers 0 or a negated errno (then
//! `JobExit` 126/127), and runs the program natively with the job's argv
//! and envp in the share, its descriptors 0-2 forwarded: output as `write`
//! calls on fds 1 and 2, input as `read` calls on fd 0, then `JobExit`.
//! Files the program opens are the host's own (it is not confined): only
//! the launch path, the standard descriptors and the exit are under test.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use channel::job::{JobExit, JobStart};
use channel::wire::SLOT_DATA_SIZE;
use channel::{Call, Errno, JobId, LwkEndpoint, Opcode};

use super::e2e::{Clock, Mapping};

/// How long one forwarded call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The stand-in, running on its own thread until dropped.
pub struct StandIn {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl StandIn {
    /// Formats `shm` as the LWK and serves jobs; programs run in `share`.
    pub fn start(shm: PathBuf, share: PathBuf) -> StandIn {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || serve(&shm, &share, &flag));
        StandIn {
            stop,
            thread: Some(thread),
        }
    }

    /// Asks it to stop (a running program is killed); [`Drop`] waits.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether it stopped on an error (and which).
    pub fn failed(&self) -> Option<String> {
        self.thread
            .as_ref()
            .filter(|t| t.is_finished())
            .map(|_| "the LWK stand-in stopped".to_string())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(shm: &Path, share: &Path, stop: &AtomicBool) -> Result<()> {
    let mapping = Mapping::open(shm)?;
    let mut ep = LwkEndpoint::format(mapping.region()?);
    let mut clock = Clock(Instant::now());
    let mut data = vec![0u8; SLOT_DATA_SIZE];
    while !stop.load(Ordering::Relaxed) {
        let incoming = match ep.control.try_recv() {
            Ok(Some(incoming)) => incoming,
            Ok(None) | Err(_) => {
                thread::sleep(Duration::from_millis(2));
                continue;
            }
        };
        let request = *incoming.request();
        let len = incoming.read_data(0, &mut data);
        incoming.release();
        let Ok(start) = JobStart::decode(&request, &data[..len]) else {
            let _ = ep.control.reply(request.seq, Err(Errno::EINVAL), &[]);
            continue;
        };
        let mut job = Job {
            ep: &mut ep,
            clock: &mut clock,
            id: start.job,
        };
        if let Err(e) = job.run(request.seq, &start, share, stop) {
            eprintln!("[xtask] LWK stand-in: job {}: {e:#}", start.job.0);
        }
    }
    ep.liveness.close();
    Ok(())
}

struct Job<'e, 'a> {
    ep: &'e mut LwkEndpoint<'a>,
    clock: &'e mut Clock,
    id: JobId,
}

impl Job<'_, '_> {
    /// One forwarded call with nothing else in flight.
    fn call(
        &mut self,
        op: Opcode,
        args: &[u64],
        data: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<Result<u64, Errno>> {
        let mut call = Call::new(self.id, op);
        call.args[..args.len()].copy_from_slice(args);
        reply.resize(SLOT_DATA_SIZE, 0);
        let response = self
            .ep
            .io
            .call(call, data, reply, self.clock, CALL_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("{}: {e}", op.name()))?;
        reply.truncate(response.data_len as usize);
        Ok(response.outcome())
    }

    /// The executable, read as the personality reads it.
    fn load(&mut self, exe: &[u8]) -> Result<Result<Vec<u8>, Errno>> {
        let mut path = exe.to_vec();
        path.push(0);
        let mut reply = Vec::new();
        let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
        let at_fdcwd = libc::AT_FDCWD as i64 as u64;
        let fd = match self.call(Opcode::Openat, &[at_fdcwd, 0, flags, 0], &path, &mut reply)? {
            Ok(fd) => fd,
            Err(e) => return Ok(Err(e)),
        };
        let size = match self.call(Opcode::Fstat, &[fd], &[], &mut reply)? {
            Ok(_) if reply.len() == 144 => u64::from_le_bytes(reply[48..56].try_into()?),
            _ => return Ok(Err(Errno::EIO)),
        };
        let mut bytes = Vec::with_capacity(size as usize);
        while (bytes.len() as u64) < size {
            let want = (size - bytes.len() as u64).min(SLOT_DATA_SIZE as u64);
            match self.call(
                Opcode::Pread64,
                &[fd, 0, want, bytes.len() as u64],
                &[],
                &mut reply,
            )? {
                Ok(0) => break,
                Ok(_) => bytes.extend_from_slice(&reply),
                Err(e) => return Ok(Err(e)),
            }
        }
        self.call(Opcode::Close, &[fd], &[], &mut reply)?.ok();
        Ok(Ok(bytes))
    }

    fn exit(&mut self, exit: JobExit) -> Result<()> {
        let call = exit.call(self.id);
        self.ep
            .io
            .call(call, &[], &mut [], self.clock, CALL_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("JobExit: {e}"))?;
        Ok(())
    }

    fn run(&mut self, seq: u64, start: &JobStart, share: &Path, stop: &AtomicBool) -> Result<()> {
        let refuse = |job: &mut Self, e: Errno| -> Result<()> {
            job.ep.control.reply(seq, Err(e), &[]).ok();
            let code = if e == Errno::ENOENT { 127 } else { 126 };
            job.exit(JobExit::Exited { code })
        };
        let bytes = match self.load(start.exe)? {
            Ok(bytes) => bytes,
            Err(e) => return refuse(self, e),
        };
        if bytes.get(..4) != Some(b"\x7fELF") {
            return refuse(self, Errno::ENOEXEC);
        }
        let copy =
            std::env::temp_dir().join(format!("lwk-standin-{}-{}", std::process::id(), self.id.0));
        std::fs::write(&copy, &bytes)?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
        let argv: Vec<std::ffi::OsString> = start
            .argv
            .map(std::os::unix::ffi::OsStrExt::from_bytes)
            .map(|a: &std::ffi::OsStr| a.to_os_string())
            .collect();
        let mut cmd = Command::new(&copy);
        if let Some(first) = argv.first() {
            cmd.arg0(first);
        }
        cmd.args(argv.iter().skip(1)).env_clear().current_dir(share);
        for e in start.envp {
            let e = String::from_utf8_lossy(e);
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn();
        let _ = std::fs::remove_file(&copy);
        let mut child = match child {
            Ok(child) => child,
            Err(_) => return refuse(self, Errno::ENOEXEC),
        };
        self.ep.control.reply(seq, Ok(0), &[]).ok();

        // Output readers and the stdin feeder.
        let (out_tx, out_rx) = mpsc::channel::<(u64, Option<Vec<u8>>)>();
        for (fd, stream) in [
            (
                1,
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
            (
                2,
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
        ] {
            let tx = out_tx.clone();
            let mut stream = stream.context("piped output")?;
            thread::spawn(move || {
                let mut buf = vec![0u8; SLOT_DATA_SIZE];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let _ = tx.send((fd, Some(buf[..n].to_vec())));
                        }
                    }
                }
                let _ = tx.send((fd, None));
            });
        }
        let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>();
        let mut stdin = child.stdin.take().context("piped stdin")?;
        thread::spawn(move || {
            for chunk in in_rx {
                if stdin.write_all(&chunk).is_err() {
                    return;
                }
            }
        });
        let mut in_tx = Some(in_tx);

        let mut queue: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
        let mut eofs = 0;
        let mut write_seq: Option<(u64, u64, Vec<u8>)> = None;
        let mut read_seq: Option<u64> = None;
        let mut status = None;
        let mut data = vec![0u8; SLOT_DATA_SIZE];
        loop {
            if stop.load(Ordering::Relaxed) {
                let _ = child.kill();
            }
            while let Ok((fd, chunk)) = out_rx.try_recv() {
                match chunk {
                    Some(c) => queue.push_back((fd, c)),
                    None => eofs += 1,
                }
            }
            if write_seq.is_none() {
                if let Some((fd, chunk)) = queue.pop_front() {
                    let call = Call::new(self.id, Opcode::Write)
                        .arg(0, fd)
                        .arg(2, chunk.len() as u64);
                    let seq = self
                        .ep
                        .io
                        .send(call, &chunk)
                        .map_err(|e| anyhow::anyhow!("write: {e}"))?;
                    write_seq = Some((seq, fd, chunk));
                }
            }
            if read_seq.is_none() && in_tx.is_some() {
                let call = Call::new(self.id, Opcode::Read)
                    .arg(0, 0)
                    .arg(2, SLOT_DATA_SIZE as u64);
                read_seq = Some(
                    self.ep
                        .io
                        .send(call, &[])
                        .map_err(|e| anyhow::anyhow!("read: {e}"))?,
                );
            }
            let mut busy = false;
            while let Some(incoming) = self.ep.io.try_recv().map_err(|e| anyhow::anyhow!("{e}"))? {
                busy = true;
                let response = *incoming.response();
                let n = incoming.read_data(0, &mut data);
                incoming.release();
                if Some(response.seq) == read_seq {
                    read_seq = None;
                    match response.outcome() {
                        Ok(len) if len > 0 => {
                            if let Some(tx) = &in_tx {
                                let _ = tx.send(data[..n].to_vec());
                            }
                        }
                        _ => in_tx = None,
                    }
                } else if let Some((seq, fd, chunk)) = write_seq.take() {
                    if seq != response.seq {
                        write_seq = Some((seq, fd, chunk));
                        continue;
                    }
                    if let Ok(n) = response.outcome() {
                        if (n as usize) < chunk.len() {
                            queue.push_front((fd, chunk[n as usize..].to_vec()));
                        }
                    }
                }
            }
            if status.is_none() {
                status = child.try_wait()?;
            }
            if let Some(s) = status {
                if eofs == 2 && queue.is_empty() && write_seq.is_none() {
                    if let Some(seq) = read_seq {
                        self.ep.io.abandon(seq);
                    }
                    let exit = match (s.code(), s.signal()) {
                        (Some(code), _) => JobExit::Exited { code },
                        (None, Some(signal)) => JobExit::Signaled {
                            signal: signal as u32,
                            fault_addr: 0,
                            ip: 0,
                        },
                        _ => JobExit::Exited { code: 255 },
                    };
                    return self.exit(exit);
                }
            }
            if !busy {
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
