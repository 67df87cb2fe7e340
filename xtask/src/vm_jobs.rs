//! Jobs through the Linux VM, in QEMU: programs launched by the daemon,
//! loaded by the LWK through forwarded calls, their file I/O shipped to
//! the VM's 9p share of a scratch directory, their output compared with
//! this host's own tools on the same files.
//!
//! - [`jobs`]: one boot pair, many jobs: busybox-static `cat`, `wc`,
//!   `sha256sum`, `ls`, `cp`, `mkdir`, `rm`, `head`, `sort` (also on stdin)
//!   against coreutils; `tests/programs/bigfile.c` writing, fsyncing and
//!   reading back 64 MiB (then checked byte for byte here); exit statuses;
//!   the daemon killed while `tests/programs/eio.c` writes (the program
//!   must end with EIO, status 74, and the next job must run);
//! - [`cli`]: the user command, `cargo xtask run -- busybox sha256sum FILE`
//!   and a `--batch` whose last job exits 42 (two boot pairs);
//! - [`no_linux_vm`]: `cargo xtask run` with the seL4 machine alone ends
//!   with a clear error within its bound, the LWK having formatted the
//!   channel and kept running.
//!
//! With [`Lwk::StandIn`] the same [`jobs`] run against the host stand-in
//! (the Linux side only; the EIO case needs the personality and is left
//! out, the daemon is killed between jobs instead).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::layout::{self, Variant};
use crate::linuxvm::launch::{ExitStatus, Kind};
use crate::proc::step;
use crate::session::{program_dirs, Config, Job, Lwk, Session, Stdin};

/// Each job's bound (the 64 MiB one takes longest).
const JOB_TIMEOUT: Duration = Duration::from_secs(600);
/// Both machines up and attached.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(240);

/// Byte `i` of `tests/programs/bigfile.c`'s file.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(131)
        .wrapping_add((i >> 12).wrapping_mul(7))
        .wrapping_add(1)) as u8
}

/// A scratch share: text, binary data, a directory to list.
struct Scratch {
    top: PathBuf,
    share: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Result<Scratch> {
        let top = layout::lwk_dir()
            .join("vm-jobs")
            .join(format!("{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&top);
        let share = top.join("share");
        fs::create_dir_all(share.join("dir/sub"))?;
        let share = fs::canonicalize(&share)?;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const WORDS: &[&str] = &[
            "pear", "apple", "fig", "Kiwi", "banana", "cherry", "date", "lime", "Mango", "olive",
            "plum", "quince", "10", "9", "-x", "zeta",
        ];
        let mut text = String::new();
        for _ in 0..400 {
            let n = 1 + next() % 6;
            let line: Vec<&str> = (0..n).map(|_| WORDS[(next() % 16) as usize]).collect();
            text.push_str(&line.join(" "));
            text.push('\n');
        }
        fs::write(share.join("text.txt"), text)?;
        let data: Vec<u8> = (0..(1 << 20)).map(|_| next() as u8).collect();
        fs::write(share.join("data.bin"), data)?;
        for name in ["b.txt", "a.txt", "C.txt", "sub/inner"] {
            fs::write(share.join("dir").join(name), name)?;
        }
        Ok(Scratch { top, share })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.top);
    }
}

/// Runs a host tool in `dir` with `LC_ALL=C`; its stdout.
fn host(dir: &Path, argv: &[&str], stdin: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", argv[0]))?;
    let mut input = child.stdin.take().context("stdin")?;
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output()?;
    let _ = feeder.join();
    Ok(out.stdout)
}

/// What a job printed and how it ended.
struct Ran {
    out: Vec<u8>,
    err: Vec<u8>,
    exit: ExitStatus,
}

struct Runner {
    session: Session,
    env: Vec<Vec<u8>>,
    failures: Vec<String>,
    count: usize,
}

impl Runner {
    fn run(&mut self, program: &Path, args: &[&str], stdin: &[u8]) -> Result<Ran> {
        let name = program
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let argv: Vec<Vec<u8>> = std::iter::once(name.clone().into_bytes())
            .chain(args.iter().map(|a| a.as_bytes().to_vec()))
            .collect();
        let job = Job {
            program,
            argv: &argv,
            env: &self.env,
        };
        let stdin = if stdin.is_empty() {
            Stdin::Null
        } else {
            Stdin::Bytes(stdin.to_vec())
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let started = Instant::now();
        let exit = self
            .session
            .run(&job, stdin, &mut out, &mut err, JOB_TIMEOUT)?;
        self.count += 1;
        step(format!(
            "  {name} {}: {exit:?} in {:.2} s",
            args.join(" "),
            started.elapsed().as_secs_f64()
        ));
        Ok(Ran { out, err, exit })
    }

    /// Records a failed expectation (the run goes on).
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            let why = what();
            step(format!("  MISMATCH {why}"));
            self.failures.push(why);
        }
    }

    /// `busybox ARGS` must print what the host tool prints.
    fn same(
        &mut self,
        busybox: &Path,
        share: &Path,
        args: &[&str],
        tool: &[&str],
        stdin: &[u8],
        words: bool,
    ) -> Result<()> {
        let ran = self.run(busybox, args, stdin)?;
        let want = host(share, tool, stdin)?;
        let norm = |b: &[u8]| -> Vec<u8> {
            if words {
                String::from_utf8_lossy(b)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .into_bytes()
            } else {
                b.to_vec()
            }
        };
        let ok = ran.exit == ExitStatus::Exited(0) && norm(&ran.out) == norm(&want);
        self.check(ok, || {
            format!(
                "`busybox {}` gave {:?} and {:?} (stderr {:?}); host `{}` gave {:?}",
                args.join(" "),
                ran.exit,
                short(&ran.out),
                short(&ran.err),
                tool.join(" "),
                short(&want)
            )
        });
        Ok(())
    }
}

fn short(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 200 {
        format!("{}… ({} bytes)", &s[..200], b.len())
    } else {
        s.into_owned()
    }
}

/// The programs the jobs run: busybox and the C test programs.
struct Programs {
    busybox: PathBuf,
    bigfile: PathBuf,
    eio: PathBuf,
    exit42: PathBuf,
}

fn programs() -> Result<Programs> {
    Ok(Programs {
        busybox: fs::canonicalize("/bin/busybox").context("busybox-static is needed")?,
        bigfile: fs::canonicalize(crate::run_tests::build_c("bigfile", "musl-gcc")?)?,
        eio: fs::canonicalize(crate::run_tests::build_c("eio", "musl-gcc")?)?,
        exit42: fs::canonicalize(crate::jobs::build_program("exit42.S")?)?,
    })
}

/// The job suite in one boot pair with `lwk` as the LWK.
pub fn jobs(lwk: Lwk) -> Result<()> {
    let p = programs()?;
    let scratch = Scratch::new("jobs")?;
    let share = scratch.share.clone();
    let all = [
        p.busybox.clone(),
        p.bigfile.clone(),
        p.eio.clone(),
        p.exit42.clone(),
    ];
    let standin = matches!(lwk, Lwk::StandIn);
    let tag = if standin {
        "vm-jobs-standin"
    } else {
        "vm-jobs"
    };
    let config = Config {
        lwk,
        linux_vm: true,
        programs: program_dirs(&share, &all),
        share: share.clone(),
        attach_timeout: ATTACH_TIMEOUT,
        tag: tag.into(),
        echo: false,
    };
    let session = Session::start(&config)?;
    let mut r = Runner {
        session,
        env: vec![
            b"PATH=/bin:/usr/bin".to_vec(),
            b"LC_ALL=C".to_vec(),
            b"LWK_TEST=vm".to_vec(),
        ],
        failures: Vec::new(),
        count: 0,
    };
    let started = Instant::now();
    let bb = p.busybox.clone();
    let text = fs::read(share.join("text.txt"))?;

    // Reading tools, compared with coreutils on the same files.
    r.same(
        &bb,
        &share,
        &["cat", "text.txt"],
        &["cat", "text.txt"],
        b"",
        false,
    )?;
    r.same(
        &bb,
        &share,
        &["cat", "data.bin"],
        &["cat", "data.bin"],
        b"",
        false,
    )?;
    r.same(
        &bb,
        &share,
        &["wc", "text.txt"],
        &["wc", "text.txt"],
        b"",
        true,
    )?;
    r.same(
        &bb,
        &share,
        &["sha256sum", "data.bin", "text.txt"],
        &["sha256sum", "data.bin", "text.txt"],
        b"",
        false,
    )?;
    r.same(&bb, &share, &["ls", "dir"], &["ls", "dir"], b"", false)?;
    if !standin {
        // An absolute path: the share is the job's `/` (the stand-in's
        // programs run natively, unconfined).
        r.same(
            &bb,
            &share,
            &["ls", "-a", "/dir/sub"],
            &["ls", "-a", "dir/sub"],
            b"",
            false,
        )?;
    }
    r.same(
        &bb,
        &share,
        &["head", "-n", "7", "text.txt"],
        &["head", "-n", "7", "text.txt"],
        b"",
        false,
    )?;
    r.same(
        &bb,
        &share,
        &["sort", "text.txt"],
        &["sort", "text.txt"],
        b"",
        false,
    )?;
    // stdin relayed from the host.
    r.same(&bb, &share, &["sort", "-r"], &["sort", "-r"], &text, false)?;
    r.same(&bb, &share, &["wc", "-l"], &["wc", "-l"], &text, true)?;

    // Writing tools: the host sees their effects.
    let ran = r.run(&bb, &["cp", "data.bin", "copy.bin"], b"")?;
    let copied = fs::read(share.join("copy.bin")).unwrap_or_default();
    let ok = ran.exit == ExitStatus::Exited(0) && copied == fs::read(share.join("data.bin"))?;
    r.check(ok, || {
        format!(
            "busybox cp: {:?}, copy of {} bytes differs",
            ran.exit,
            copied.len()
        )
    });
    let ran = r.run(&bb, &["mkdir", "-p", "made/deeper"], b"")?;
    let ok = ran.exit == ExitStatus::Exited(0) && share.join("made/deeper").is_dir();
    r.check(ok, || {
        format!(
            "busybox mkdir -p: {:?}, directory missing on the host",
            ran.exit
        )
    });
    let ran = r.run(&bb, &["rm", "copy.bin"], b"")?;
    let ok = ran.exit == ExitStatus::Exited(0) && !share.join("copy.bin").exists();
    r.check(ok, || {
        format!("busybox rm: {:?}, file still on the host", ran.exit)
    });
    let ran = r.run(&bb, &["ls", "made"], b"")?;
    r.check(ran.out == b"deeper\n", || {
        format!("ls made: {:?}", short(&ran.out))
    });

    // Exit statuses reach the host.
    let ran = r.run(&p.exit42, &[], b"")?;
    r.check(ran.exit == ExitStatus::Exited(42), || {
        format!("exit42: {:?}", ran.exit)
    });
    let ran = r.run(&bb, &["false"], b"")?;
    r.check(ran.exit == ExitStatus::Exited(1), || {
        format!("busybox false: {:?}", ran.exit)
    });
    let ran = r.run(&bb, &["cat", "missing-file"], b"")?;
    r.check(
        ran.exit == ExitStatus::Exited(1)
            && String::from_utf8_lossy(&ran.err).contains("missing-file"),
        || {
            format!(
                "cat of a missing file: {:?}, stderr {:?}",
                ran.exit,
                short(&ran.err)
            )
        },
    );

    // 64 MiB written, fsynced, read back by the program, then checked here.
    let big_started = Instant::now();
    let ran = r.run(&p.bigfile, &["big.bin", "64"], b"")?;
    let big_secs = big_started.elapsed().as_secs_f64();
    let ok = ran.exit == ExitStatus::Exited(0) && ran.out.starts_with(b"ok 67108864");
    r.check(ok, || {
        format!(
            "bigfile: {:?}, {:?}, stderr {:?}",
            ran.exit,
            short(&ran.out),
            short(&ran.err)
        )
    });
    let on_host = fs::read(share.join("big.bin")).unwrap_or_default();
    let bad = on_host
        .iter()
        .enumerate()
        .position(|(i, &b)| b != pattern(i as u64));
    r.check(on_host.len() == 64 << 20 && bad.is_none(), || {
        format!(
            "bigfile on the host: {} bytes, first wrong byte at {bad:?}",
            on_host.len()
        )
    });
    let _ = fs::remove_file(share.join("big.bin"));

    // The daemon killed: mid-job (the program gets EIO) on the LWK; between
    // jobs with the stand-in. Either way the next job runs.
    if standin {
        r.session.kill_daemon()?;
        wait_restart(&mut r.session)?;
    } else {
        let outcome = eio_case(&mut r, &p.eio);
        r.check(outcome.is_ok(), || {
            format!("daemon killed mid-job: {:#}", outcome.unwrap_err())
        });
    }
    let ran = r.run(&bb, &["echo", "after", "the", "restart"], b"")?;
    r.check(
        ran.out == b"after the restart\n" && ran.exit == ExitStatus::Exited(0),
        || {
            format!(
                "the job after the daemon restart: {:?} {:?}",
                ran.exit,
                short(&ran.out)
            )
        },
    );

    let elapsed = started.elapsed().as_secs_f64();
    step(format!(
        "{tag}: {} jobs in {elapsed:.1} s; 64 MiB write+fsync+read back in {big_secs:.1} s",
        r.count
    ));
    if !r.failures.is_empty() {
        bail!(
            "{} of {} checks failed: {}",
            r.failures.len(),
            r.count,
            r.failures.join("; ")
        );
    }
    Ok(())
}

/// Waits for the restarted daemon's `Hello` and its `Attached`.
fn wait_restart(session: &mut Session) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        ensure!(
            Instant::now() < until,
            "the daemon did not come back within 60 s"
        );
        if let Some(f) = session.event(Duration::from_millis(100))? {
            if f.kind == Kind::Hello {
                break;
            }
        }
    }
    session.wait_attached(Instant::now() + Duration::from_secs(60))
}

/// `eio` writes and fsyncs in a loop; the daemon is killed once it says
/// `ready`; the personality must fail its call with EIO (status 74 on the
/// LWK's console: its output went to a daemon that is gone).
fn eio_case(r: &mut Runner, eio: &Path) -> Result<()> {
    let argv = vec![b"eio".to_vec(), b"eio.tmp".to_vec()];
    let job = Job {
        program: eio,
        argv: &argv,
        env: &r.env,
    };
    let tag = r.session.launch(&job, Stdin::Null)?;
    let until = Instant::now() + Duration::from_secs(120);
    let mut out = Vec::new();
    while !out.windows(5).any(|w| w == b"ready") {
        ensure!(
            Instant::now() < until,
            "eio never said ready: {:?}",
            short(&out)
        );
        if let Some(f) = r.session.event(Duration::from_millis(100))? {
            match f.kind {
                Kind::Stdout if f.tag == tag => out.extend_from_slice(&f.payload),
                Kind::Exit if f.tag == tag => bail!(
                    "eio ended before the kill: {:?}",
                    ExitStatus::decode(&f.payload)
                ),
                Kind::Error if f.tag == tag => bail!("eio refused: {}", f.text()),
                _ => {}
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let killed = Instant::now();
    r.session.kill_daemon()?;
    wait_restart(&mut r.session)?;
    step(format!(
        "  daemon killed mid-job; a new one attached after {:.1} s",
        killed.elapsed().as_secs_f64()
    ));
    // The personality reports the job's end on its console.
    let until = Instant::now() + Duration::from_secs(180);
    loop {
        let end = r.session.lines().into_iter().find_map(|(m, l)| {
            (m == "sel4"
                && (l.contains("JOB-EXIT") || l.contains("JOB-SIGNAL"))
                && l.contains("eio"))
            .then_some(l)
        });
        if let Some(line) = end {
            ensure!(
                line.contains("status=74"),
                "eio ended with `{}`, expected status=74 (EIO)",
                line.trim()
            );
            step(format!(
                "  eio ended {:.1} s after the kill: {}",
                killed.elapsed().as_secs_f64(),
                line.trim()
            ));
            return Ok(());
        }
        ensure!(
            Instant::now() < until,
            "no JOB-EXIT for eio within 180 s of the kill"
        );
        r.session.event(Duration::from_millis(200))?;
    }
}

/// Runs `cargo xtask run ARGS` (this binary) in `dir`; stdout, stderr,
/// status, seconds.
fn xtask_run(dir: &Path, args: &[&str]) -> Result<(Vec<u8>, String, i32, f64)> {
    let started = Instant::now();
    let out = Command::new(std::env::current_exe()?)
        .arg("run")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()?;
    Ok((
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
        started.elapsed().as_secs_f64(),
    ))
}

/// The user command: the issue's `busybox sha256sum FILE`, then a batch.
pub fn cli(variant: Variant) -> Result<()> {
    let p = programs()?;
    let scratch = Scratch::new("cli")?;
    let share = &scratch.share;
    let v = ["--variant", variant.name(), "--nodes", "4"];
    let want = host(share, &["sha256sum", "data.bin"], b"")?;
    let mut args = v.to_vec();
    args.extend(["--", "busybox", "sha256sum", "data.bin"]);
    let (out, err, status, secs) = xtask_run(share, &args)?;
    ensure!(
        status == 0 && out == want,
        "`cargo xtask run -- busybox sha256sum data.bin`: status {status}, stdout {:?}, host {:?}; stderr: {}",
        short(&out),
        short(&want),
        err.trim()
    );
    step(format!(
        "  run -- busybox sha256sum data.bin: same digest as the host's, {secs:.1} s"
    ));
    let batch = format!(
        "# a batch: two jobs in one boot\nbusybox sha256sum data.bin\nbusybox echo 'two words' \"and more\"\n{}\n",
        p.exit42.display()
    );
    fs::write(share.join("jobs.txt"), batch)?;
    let mut args = v.to_vec();
    args.extend(["--batch", "jobs.txt"]);
    let (out, err, status, secs) = xtask_run(share, &args)?;
    let mut expected = want.clone();
    expected.extend_from_slice(b"two words and more\n");
    ensure!(
        status == 42 && out == expected,
        "`cargo xtask run --batch`: status {status} (expected 42), stdout {:?}; stderr: {}",
        short(&out),
        err.trim()
    );
    step(format!(
        "  run --batch (3 jobs): output as expected, status 42, {secs:.1} s"
    ));
    Ok(())
}

/// The seL4 machine alone: a clear error within the bound, no hang, and
/// the LWK formatted the channel and kept running.
pub fn no_linux_vm(variant: Variant) -> Result<()> {
    let scratch = Scratch::new("novm")?;
    let bound = 40;
    let (out, err, status, secs) = xtask_run(
        &scratch.share,
        &[
            "--variant",
            variant.name(),
            "--no-linux-vm",
            "--attach-timeout",
            &bound.to_string(),
            "--",
            "busybox",
            "true",
        ],
    )?;
    ensure!(
        status == 125 && out.is_empty() && err.contains("no Linux VM attached"),
        "without a Linux VM: status {status}, stdout {:?}, stderr: {}",
        short(&out),
        err.trim()
    );
    ensure!(secs < f64::from(bound) + 120.0, "took {secs:.0} s");
    let log = fs::read_to_string(layout::logs_dir().join("run-sel4.log")).unwrap_or_default();
    ensure!(
        log.contains("LWK-CHANNEL-FORMATTED") && !log.contains("PANIC"),
        "the LWK's console (target/lwk/logs/run-sel4.log) lacks LWK-CHANNEL-FORMATTED or panicked"
    );
    let last = err
        .lines()
        .rev()
        .find(|l| l.contains("error"))
        .unwrap_or("")
        .trim()
        .to_string();
    step(format!(
        "  no Linux VM: status 125 after {secs:.1} s: {last}"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_matches_the_c_program() {
        // (i * 131 + (i >> 12) * 7 + 1) as u8, as bigfile.c computes it.
        assert_eq!(pattern(0), 1);
        assert_eq!(pattern(1), 132);
        assert_eq!(pattern(4096), ((4096u64 * 131 + 7 + 1) & 0xff) as u8);
    }
}
