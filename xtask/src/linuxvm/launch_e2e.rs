//! Job launch without QEMU: the daemon runs natively on this host (its
//! launch channel a Unix socket, its program tree a scratch directory),
//! the LWK is the host stand-in ([`super::standin`]). Checks the launch
//! frames, stdout/stderr relays, stdin (data, then end of file, a read that
//! waits for the host), exit statuses, `JobStart` refusals (ENOENT, a
//! non-ELF file), programs loaded from the share and from the program tree,
//! a malformed launch, and `KillDaemon` + a restarted daemon serving the
//! next job. Seconds, not minutes: `cargo xtask test` runs it before the
//! QEMU boots.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use super::launch::{Conn, ExitStatus, Kind, Launch};
use super::standin::StandIn;
use super::{image, ShmFile};
use crate::proc::{self, step};

const WAIT: Duration = Duration::from_secs(30);

/// What a launched job did.
#[derive(Debug, Default)]
struct Ran {
    started: Option<i64>,
    out: Vec<u8>,
    err: Vec<u8>,
    exit: Option<ExitStatus>,
    error: Option<String>,
}

/// Collects job `tag`'s frames until its `Exit` (or `Error`).
fn collect(conn: &Conn, tag: u32) -> Result<Ran> {
    let until = Instant::now() + WAIT;
    let mut ran = Ran::default();
    while Instant::now() < until {
        let Some(f) = conn.recv(Duration::from_millis(100))? else {
            continue;
        };
        if f.tag != tag {
            continue;
        }
        match f.kind {
            Kind::Started => {
                ran.started = lwk_linux_daemon::launch_wire::decode_started(&f.payload).map(|s| s.0)
            }
            Kind::Stdout => ran.out.extend_from_slice(&f.payload),
            Kind::Stderr => ran.err.extend_from_slice(&f.payload),
            Kind::Exit => {
                ran.exit = ExitStatus::decode(&f.payload);
                return Ok(ran);
            }
            Kind::Error => {
                ran.error = Some(f.text());
                return Ok(ran);
            }
            _ => {}
        }
    }
    bail!("job {tag}: no exit within {} s: {ran:?}", WAIT.as_secs())
}

/// Waits for a frame of `kind` (tag 0).
fn expect(conn: &Conn, kind: Kind) -> Result<()> {
    let until = Instant::now() + WAIT;
    while Instant::now() < until {
        if let Some(f) = conn.recv(Duration::from_millis(100))? {
            if f.kind == kind {
                return Ok(());
            }
        }
    }
    bail!("no {kind:?} frame within {} s", WAIT.as_secs())
}

fn launch(conn: &Conn, tag: u32, exe: &str, argv: &[&str], stdin: Option<&[u8]>) -> Result<()> {
    let l = Launch {
        cores: 0b10,
        exe: exe.as_bytes().to_vec(),
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        envp: vec![b"PATH=/bin".to_vec(), b"LWK_TEST=launch".to_vec()],
    };
    conn.send(Kind::Launch, tag, l.encode())?;
    if let Some(input) = stdin {
        if !input.is_empty() {
            conn.send(Kind::Stdin, tag, input.to_vec())?;
        }
        conn.send(Kind::Stdin, tag, Vec::new())?;
    }
    Ok(())
}

/// The daemon on this host, connected to `sock`.
fn spawn_daemon(
    daemon: &Path,
    shm: &Path,
    share: &Path,
    progs: &Path,
    sock: &Path,
) -> Result<std::process::Child> {
    Command::new(daemon)
        .arg("--region")
        .arg(shm)
        .arg("--share")
        .arg(share)
        .arg("--programs")
        .arg(progs)
        .arg("--launch")
        .arg(sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", daemon.display()))
}

/// The host launch test.
pub fn host_launch_test() -> Result<()> {
    step("linux-vm launch (host): building the daemon for the host");
    let target_dir = image::dir().join("host-cargo");
    proc::run(
        proc::cargo()
            .args(["build", "-j2", "-p", "lwk-linux-daemon", "--target-dir"])
            .arg(&target_dir),
    )?;
    let daemon = target_dir.join("debug/lwk-linux-daemon");
    let top = image::dir()
        .join("e2e")
        .join(format!("{}-launch", std::process::id()));
    let _ = fs::remove_dir_all(&top);
    let share = top.join("share");
    let progs = top.join("progs");
    fs::create_dir_all(share.join("bin"))?;
    fs::create_dir_all(progs.join("0"))?;
    let busybox = fs::canonicalize("/bin/busybox").context("busybox-static is needed")?;
    fs::copy(&busybox, progs.join("0/busybox"))?;
    fs::copy(&busybox, share.join("bin/busybox"))?;
    fs::write(share.join("lines.txt"), "pear\napple\nfig\n")?;
    fs::write(share.join("not-elf"), "#!/bin/sh\necho no\n")?;
    let shm = ShmFile::fresh("launch")?;
    let sock = top.join("launch.sock");
    let listener = UnixListener::bind(&sock)?;
    let mut child = spawn_daemon(&daemon, &shm.path, &share, &progs, &sock)?;
    let result = (|| -> Result<String> {
        let conn = Conn::accept(&listener, WAIT, || None)?;
        expect(&conn, Kind::Hello)?;
        // Before the LWK formats: a launch is refused at once.
        launch(&conn, 99, "/bin/busybox", &["busybox", "true"], None)?;
        let early = collect(&conn, 99)?;
        ensure!(early.error.is_some(), "launch before attach: {early:?}");
        let standin = StandIn::start(shm.path.clone(), share.clone());
        expect(&conn, Kind::Attached)?;
        let started = Instant::now();

        // stdout, stderr, exit status; the program tree.
        launch(
            &conn,
            1,
            "/.lwk/0/busybox",
            &[
                "busybox",
                "sh",
                "-c",
                "sort lines.txt; echo oops >&2; exit 7",
            ],
            Some(b""),
        )?;
        let r = collect(&conn, 1)?;
        ensure!(
            r.started == Some(0)
                && r.out == b"apple\nfig\npear\n"
                && r.err == b"oops\n"
                && r.exit == Some(ExitStatus::Exited(7)),
            "sort + exit 7: {r:?}"
        );
        // stdin relayed, in order, to the end; a program in the share.
        let input: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        launch(&conn, 2, "/bin/busybox", &["busybox", "cat"], Some(&input))?;
        let r = collect(&conn, 2)?;
        ensure!(
            r.out == input && r.exit == Some(ExitStatus::Exited(0)),
            "cat of {} bytes of stdin gave {} bytes, {:?}",
            input.len(),
            r.out.len(),
            r.exit
        );
        // A read that waits: stdin comes after the program started.
        launch(&conn, 3, "/bin/busybox", &["busybox", "wc", "-l"], None)?;
        std::thread::sleep(Duration::from_millis(300));
        conn.send(Kind::Stdin, 3, b"a\nb\n".to_vec())?;
        std::thread::sleep(Duration::from_millis(300));
        conn.send(Kind::Stdin, 3, b"c\n".to_vec())?;
        conn.send(Kind::Stdin, 3, Vec::new())?;
        let r = collect(&conn, 3)?;
        ensure!(
            String::from_utf8_lossy(&r.out).trim() == "3",
            "wc -l of late stdin: {r:?}"
        );
        // Refusals: no such file, not an ELF; both still end with Exit.
        launch(&conn, 4, "/nope", &["nope"], Some(b""))?;
        let r = collect(&conn, 4)?;
        ensure!(
            r.started == Some(-2) && r.exit == Some(ExitStatus::Exited(127)),
            "missing program: {r:?}"
        );
        launch(&conn, 5, "/not-elf", &["not-elf"], Some(b""))?;
        let r = collect(&conn, 5)?;
        ensure!(
            r.started == Some(-8) && r.exit == Some(ExitStatus::Exited(126)),
            "non-ELF program: {r:?}"
        );
        // A malformed launch is refused, nothing else happens.
        conn.send(Kind::Launch, 6, b"short".to_vec())?;
        let r = collect(&conn, 6)?;
        ensure!(r.error.is_some(), "malformed launch: {r:?}");
        let per_job = started.elapsed() / 5;

        // The daemon killed: a new one attaches and serves the next job.
        conn.send(Kind::KillDaemon, 0, Vec::new())?;
        let status = child.wait()?;
        ensure!(
            std::os::unix::process::ExitStatusExt::signal(&status) == Some(9),
            "KillDaemon: the daemon ended with {status}"
        );
        drop(conn);
        child = spawn_daemon(&daemon, &shm.path, &share, &progs, &sock)?;
        let conn = Conn::accept(&listener, WAIT, || None)?;
        expect(&conn, Kind::Hello)?;
        expect(&conn, Kind::Attached)?;
        launch(
            &conn,
            7,
            "/.lwk/0/busybox",
            &["busybox", "echo", "again"],
            Some(b""),
        )?;
        let r = collect(&conn, 7)?;
        ensure!(
            r.out == b"again\n" && r.exit == Some(ExitStatus::Exited(0)),
            "job after a daemon restart: {r:?}"
        );
        drop(standin);
        Ok(format!(
            "7 launches, 1 refused early, daemon killed and restarted; {:.0} ms per job",
            per_job.as_secs_f64() * 1000.0
        ))
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = fs::remove_dir_all(&top);
    step(format!("linux-vm launch (host): {}", result?));
    Ok(())
}
