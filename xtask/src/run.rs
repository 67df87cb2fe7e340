//! `cargo xtask run --standalone -- PROGRAM [ARGS...]`: runs one unmodified
//! static Linux program on the LWK and behaves like the program: its stdout
//! on stdout (nothing else), its stderr on stderr, the command's stdin fed
//! to it, and the program's exit status as ours (128 + N when signal N
//! ended it, as a shell reports it).
//!
//! Standalone mode: the program, its argv and the caller's environment are
//! packed (`lwk-jobpack`) and given to QEMU as a fw_cfg file, which the
//! personality reads at boot; the program's stdio travels framed over COM2
//! to a Unix socket this command listens on. COM1, the system console,
//! goes to a log (or to stderr with `--console`). No image is rebuilt per
//! program.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::layout::{self, Variant};
use crate::qemu::Machine;
use crate::{build, setup};

/// Options of `cargo xtask run`.
#[derive(clap::Args)]
pub struct Args {
    /// Run standalone: the program is packed into the boot (fw_cfg) and
    /// its I/O goes over a serial line (the Linux VM is not used).
    #[arg(long)]
    standalone: bool,
    /// Kernel variant (release kernels only: foreign programs never run on
    /// a debug kernel, whose debug syscalls they could reach).
    #[arg(long, short, value_enum, default_value_t = Variant::ReleaseSmp)]
    variant: Variant,
    /// QEMU `-smp`.
    #[arg(long, default_value_t = 4)]
    nodes: u32,
    /// QEMU `-m`.
    #[arg(long, default_value = "512M")]
    mem: String,
    /// Seconds before the run is abandoned.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Copy the system console (COM1) to stderr.
    #[arg(long)]
    console: bool,
    /// The program and its arguments.
    #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

/// Runs the command; returns the exit status to exit with.
pub fn run(args: &Args) -> Result<i32> {
    if !args.standalone {
        bail!("only --standalone runs exist so far (the Linux VM component is not built yet)");
    }
    if args.variant.is_debug() {
        bail!(
            "refusing to run a foreign program on a debug kernel ({}); use release or release-smp",
            args.variant
        );
    }
    let program = resolve(&args.command[0])?;
    let exe =
        std::fs::read(&program).with_context(|| format!("cannot read {}", program.display()))?;
    let toolchain = setup::ensure()?;
    let script = build::build(&toolchain, args.variant)?;

    let dir = layout::lwk_dir()
        .join("run")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _cleanup = RemoveDir(dir.clone());
    let pack_path = dir.join("jobs.bin");
    std::fs::write(&pack_path, pack(&program, &args.command, &exe)?)?;
    let sock = dir.join("job.sock");
    let listener = UnixListener::bind(&sock)
        .with_context(|| format!("cannot listen on {}", sock.display()))?;

    let mut cmd = Command::new(script);
    cmd.args(["--smp", &args.nodes.to_string(), "--mem-size", &args.mem]);
    cmd.arg("--extra-qemu-args").arg(format!(
        "-fw_cfg name={},file={} -serial unix:{}",
        lwk_jobpack::FW_CFG_NAME,
        pack_path.display(),
        sock.display()
    ));
    let mut machine = Machine::spawn(cmd)?;
    let (exit_tx, exit_rx) = mpsc::channel();
    let io = thread::spawn(move || serve(listener, exit_tx));

    let log = layout::logs_dir().join("run.log");
    std::fs::create_dir_all(layout::logs_dir())?;
    let echo = args.console;
    let outcome = machine.watch(
        &log,
        Duration::from_secs(args.timeout),
        "LWK root task",
        |line| {
            if echo {
                eprintln!("{line}");
            }
            crate::console::jobs_line(line)
        },
    )?;
    // Frames after the exit frame do not exist; give the socket a moment.
    let status = exit_rx.recv_timeout(Duration::from_secs(5));
    drop(machine);
    let _ = io.join();
    if let Err(why) = outcome.verdict {
        bail!("the LWK run failed: {why} (console log: {})", log.display());
    }
    match status {
        Ok(s) => Ok(s),
        Err(_) => bail!(
            "the LWK did not report the program's exit (console log: {})",
            log.display()
        ),
    }
}

/// A command name as a shell finds it.
fn resolve(name: &OsString) -> Result<PathBuf> {
    let p = Path::new(name);
    if name.as_bytes().contains(&b'/') {
        return Ok(p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join(p);
        if cand.is_file() {
            return Ok(cand);
        }
    }
    bail!("{}: command not found", p.display())
}

/// The job pack for one program with the caller's environment.
fn pack(program: &Path, argv: &[OsString], exe: &[u8]) -> Result<Vec<u8>> {
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
    let env: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.as_bytes().to_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            e
        })
        .collect();
    let envp: Vec<&[u8]> = env.iter().map(Vec::as_slice).collect();
    let mut flags = 0;
    for (fd, bit) in [
        (0, lwk_jobpack::flags::STDIN_TTY),
        (1, lwk_jobpack::flags::STDOUT_TTY),
        (2, lwk_jobpack::flags::STDERR_TTY),
    ] {
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(fd) } == 1 {
            flags |= bit;
        }
    }
    let path = program.as_os_str().as_bytes();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Ok(lwk_jobpack::encode(
        &[lwk_jobpack::JobSpec {
            flags,
            path,
            argv: &argv,
            envp: &envp,
            exe,
        }],
        now,
    ))
}

/// Serves COM2: program output to our stdout/stderr, our stdin to it.
fn serve(listener: UnixListener, exit: mpsc::Sender<i32>) {
    let Ok((mut conn, _)) = listener.accept() else {
        return;
    };
    if let Ok(mut input) = conn.try_clone() {
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin();
            loop {
                let n = stdin.read(&mut buf).unwrap_or(0);
                let mut frame = vec![1u8];
                frame.extend_from_slice(&(n as u16).to_le_bytes());
                frame.extend_from_slice(&buf[..n]);
                if input.write_all(&frame).is_err() || n == 0 {
                    return;
                }
            }
        });
    }
    let mut head = [0u8; 3];
    loop {
        if conn.read_exact(&mut head).is_err() {
            return;
        }
        let len = u16::from_le_bytes([head[1], head[2]]) as usize;
        let mut body = vec![0u8; len];
        if conn.read_exact(&mut body).is_err() {
            return;
        }
        match head[0] {
            1 => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&body);
                let _ = out.flush();
            }
            2 => {
                let _ = std::io::stderr().write_all(&body);
            }
            3 if len >= 4 => {
                let _ = exit.send(i32::from_le_bytes([body[0], body[1], body[2], body[3]]));
            }
            _ => {}
        }
    }
}

/// Removes the run's scratch directory.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
