//! The LWK side: every benchmark job packed into one standalone boot of
//! the seL4 machine (the `simulate` script, fw_cfg job pack, program
//! stdio framed on COM2 as `cargo xtask run --standalone` does), and the
//! file I/O job through `cargo xtask run` (both machines).

use std::collections::BTreeMap;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::stats::JobOut;
use super::{Job, Machine as MachineSpec};
use crate::layout::Variant;
use crate::proc::step;
use crate::qemu::Machine;

/// What one LWK boot gave.
pub struct LwkRun {
    pub jobs: BTreeMap<String, JobOut>,
    /// QEMU start to the first byte of the first job's stdout.
    pub first_output: Option<Duration>,
    /// QEMU start to console markers (`LWK root task`, `PERSONALITY-OK`).
    pub markers: Vec<(String, Duration)>,
    /// `load_us` of each job's `JOB-EXIT` line, by job name.
    pub load_us: BTreeMap<String, u64>,
    /// The QEMU command line (from the script's dry run).
    pub command: String,
    /// `Err(why)` if the boot did not reach `JOBS-DONE`.
    pub verdict: Result<(), String>,
    pub log: PathBuf,
}

/// What the COM2 server collects.
#[derive(Default)]
struct Com2 {
    jobs: Vec<JobOut>,
    /// Bytes of the current job's stdout not yet split into lines.
    partial: Vec<u8>,
    first_output: Option<Instant>,
}

/// The extra QEMU arguments of the icount mode.
pub const ICOUNT_ARGS: &str = "-icount shift=0,sleep=off";

/// Boots `variant` once with `jobs` packed, runs them in order.
pub fn run(
    variant: Variant,
    machine: &MachineSpec,
    programs: &super::programs::Programs,
    jobs: &[Job],
    work: &Path,
    timeout: Duration,
) -> Result<LwkRun> {
    let files: Vec<Vec<u8>> = jobs
        .iter()
        .map(|j| {
            let p = programs.exe(j.program);
            std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
        })
        .collect::<Result<_>>()?;
    let paths: Vec<Vec<u8>> = jobs
        .iter()
        .map(|j| format!("/bench/bench_{}", j.program).into_bytes())
        .collect();
    let args: Vec<&[String]> = jobs.iter().map(|j| j.args.as_slice()).collect();
    std::fs::create_dir_all(work)?;
    let pack_path = work.join("jobs.bin");
    std::fs::write(
        &pack_path,
        crate::jobs::pack(&paths, &args, &files, b"LWK_BENCH=1"),
    )?;
    let sock = work.join("com2.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)
        .with_context(|| format!("cannot listen on {}", sock.display()))?;

    let mut extra = format!(
        "-fw_cfg name={},file={} -serial unix:{}",
        lwk_jobpack::FW_CFG_NAME,
        pack_path.display(),
        sock.display()
    );
    if machine.icount {
        extra = format!("{extra} {ICOUNT_ARGS}");
    }
    let script = variant.simulate_script();
    let args = |cmd: &mut Command| {
        cmd.args([
            "--smp",
            &machine.nodes.to_string(),
            "--mem-size",
            &machine.mem,
        ])
        .arg("--extra-qemu-args")
        .arg(&extra);
    };
    let mut dry = Command::new(&script);
    args(&mut dry);
    let out = dry.arg("-n").output().context("simulate -n")?;
    let command = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let mut cmd = Command::new(&script);
    args(&mut cmd);
    let log = work.join("lwk-console.log");
    step(format!(
        "bench: LWK ({variant}, {} nodes, {}{}): {} jobs in one boot",
        machine.nodes,
        machine.mem,
        if machine.icount { ", icount" } else { "" },
        jobs.len()
    ));
    let started = Instant::now();
    let mut qemu = Machine::spawn(cmd)?;
    let com2 = Arc::new(Mutex::new(Com2::default()));
    let server = {
        let com2 = com2.clone();
        thread::spawn(move || serve(listener, &com2))
    };
    let mut markers = Vec::new();
    let mut exits = Vec::new();
    let outcome = qemu.watch(&log, timeout, crate::console::FIRST_LINE, |line| {
        for m in [crate::console::FIRST_LINE, "PERSONALITY-OK"] {
            if line.contains(m) && !markers.iter().any(|(n, _)| n == m) {
                markers.push((m.to_string(), started.elapsed()));
            }
        }
        if line.contains("JOB-EXIT") || line.contains("JOB-SIGNAL") || line.contains("JOB-FAIL") {
            exits.push(line.to_string());
        }
        crate::console::jobs_line(line)
    })?;
    // Frames may trail the console's last line by a moment.
    thread::sleep(Duration::from_millis(300));
    drop(qemu);
    let _ = server.join();
    let mut c = com2.lock().unwrap_or_else(|e| e.into_inner());
    flush_partial(&mut c);
    let mut out = BTreeMap::new();
    for (i, job) in jobs.iter().enumerate() {
        out.insert(job.name.clone(), c.jobs.get(i).cloned().unwrap_or_default());
    }
    let mut load_us = BTreeMap::new();
    for (job, line) in jobs.iter().zip(&exits) {
        if let Some(v) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("load_us="))
            .and_then(|v| v.parse().ok())
        {
            load_us.insert(job.name.clone(), v);
        }
    }
    Ok(LwkRun {
        jobs: out,
        first_output: c.first_output.map(|t| t.saturating_duration_since(started)),
        markers,
        load_us,
        command,
        verdict: outcome.verdict,
        log,
    })
}

/// Moves the current job's unfinished line into its lines.
fn flush_partial(c: &mut Com2) {
    if c.partial.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(&c.partial).into_owned();
    c.partial.clear();
    if let Some(job) = c.jobs.last_mut() {
        job.lines.push(text);
    }
}

/// Reads COM2 frames: 4 starts a job, 1/2 are its stdout/stderr, 3 ends it.
fn serve(listener: UnixListener, com2: &Mutex<Com2>) {
    let Ok((mut conn, _)) = listener.accept() else {
        return;
    };
    while let Some((kind, body)) = crate::run::read_frame(&mut conn) {
        let len = body.len();
        let mut c = com2.lock().unwrap_or_else(|e| e.into_inner());
        match kind {
            4 => {
                flush_partial(&mut c);
                c.jobs.push(JobOut::default());
            }
            1 | 2 => {
                if kind == 1 && c.first_output.is_none() && !body.is_empty() {
                    c.first_output = Some(Instant::now());
                }
                c.partial.extend_from_slice(&body);
                while let Some(nl) = c.partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = c.partial.drain(..=nl).collect();
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    if let Some(job) = c.jobs.last_mut() {
                        job.lines.push(text);
                    }
                }
            }
            3 if len >= 8 => {
                flush_partial(&mut c);
                let status = i32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                let signal = i32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                if let Some(job) = c.jobs.last_mut() {
                    if signal != 0 {
                        job.signal = Some(signal);
                    } else {
                        job.status = Some(status);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The file I/O job on the LWK through the Linux VM: `cargo xtask run`
/// (both machines, the job's root a fresh directory). `Err(why)` when it
/// cannot be measured.
pub fn run_io(
    variant: Variant,
    machine: &MachineSpec,
    exe: &Path,
    args: &[String],
    work: &Path,
    timeout: Duration,
) -> (String, Result<JobOut, String>) {
    let share = work.join("io-share");
    let _ = std::fs::remove_dir_all(&share);
    if let Err(e) = std::fs::create_dir_all(&share) {
        return (
            String::new(),
            Err(format!("cannot create {}: {e}", share.display())),
        );
    }
    let me = match this_exe() {
        Ok(p) => p,
        Err(e) => return (String::new(), Err(e.to_string())),
    };
    let mut cmd = Command::new(me);
    cmd.args(["run", "--variant", variant.name()])
        .args(["--nodes", &machine.nodes.to_string(), "--mem", &machine.mem])
        .args(["--timeout", &timeout.as_secs().to_string(), "--"])
        .arg(exe)
        .args(args)
        .current_dir(&share)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!(
        "(cd {} && cargo xtask run --variant {} --nodes {} --mem {} -- {} {})",
        share.display(),
        variant.name(),
        machine.nodes,
        machine.mem,
        exe.display(),
        args.join(" ")
    );
    step(format!("bench: LWK file I/O through the Linux VM: {shown}"));
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (shown, Err(format!("cannot start cargo xtask run: {e}"))),
    };
    let pid = child.id();
    // `cargo xtask run` bounds its own waits; this is the last resort.
    let done = Arc::new(Mutex::new(false));
    let watchdog = {
        let done = done.clone();
        let limit = timeout + Duration::from_secs(120);
        thread::spawn(move || {
            let until = Instant::now() + limit;
            while Instant::now() < until {
                if *done.lock().unwrap_or_else(|e| e.into_inner()) {
                    return;
                }
                thread::sleep(Duration::from_millis(200));
            }
            // SAFETY: kill has no memory-safety preconditions; the pid is
            // our own child, not yet reaped (we are still waiting on it).
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        })
    };
    let output = child.wait_with_output();
    *done.lock().unwrap_or_else(|e| e.into_inner()) = true;
    let _ = watchdog.join();
    let output = match output {
        Ok(o) => o,
        Err(e) => return (shown, Err(e.to_string())),
    };
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let code = output.status.code();
    let job = JobOut {
        status: code.filter(|&c| c < 128),
        signal: code.filter(|&c| c > 128 && c < 192).map(|c| c - 128),
        lines,
    };
    if job.ok() && job.summary("io").is_some() {
        return (shown, Ok(job));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    let why = if code == Some(125) || job.lines.is_empty() {
        format!("`cargo xtask run` through the Linux VM failed ({last})")
    } else {
        format!("the program on the LWK: {} ({last})", job.failure())
    };
    (shown, Err(why))
}

/// This tool's binary. A rebuild while we run (other work in the same
/// checkout) replaces the file: the kernel then names ours
/// `PATH (deleted)`, and the new binary at PATH does the same job.
fn this_exe() -> std::io::Result<PathBuf> {
    let p = std::env::current_exe()?;
    if p.exists() {
        return Ok(p);
    }
    let text = p.to_string_lossy();
    match text.strip_suffix(" (deleted)") {
        Some(orig) if Path::new(orig).exists() => Ok(PathBuf::from(orig)),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is gone", p.display()),
        )),
    }
}
