//! `cargo xtask run [--standalone] -- PROGRAM [ARGS...]`: runs one
//! unmodified static Linux program on the LWK and behaves like the program:
//! its stdout on stdout (nothing else), its stderr on stderr, the command's
//! stdin fed to it, and the program's exit status as ours (128 + N when
//! signal N ended it, as a shell reports it).
//!
//! Default mode (the Linux VM, see [`crate::session`]): both machines boot
//! on one shared region with the current directory as the job's root; the
//! Linux VM's daemon creates the job (fds 0-2 relayed to this command over
//! the launch channel) and sends `JobStart`; the personality loads the
//! program through forwarded calls. A program outside the current
//! directory is loaded through a read-only share of its directory
//! (`/.lwk/<i>/NAME` in the job's view). `--batch FILE` runs one command
//! line per line of FILE in one boot (stdin empty for each; the status is
//! the last job's). Diagnostics go to stderr, both consoles to
//! `target/lwk/logs/run-{sel4,linux-vm}.log`.
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
use crate::linuxvm::launch::ExitStatus;
use crate::proc::step;
use crate::qemu::Machine;
use crate::session::{program_dirs, Config, Job, Lwk, Session, Stdin};
use crate::{build, setup};

/// Options of `cargo xtask run`.
#[derive(clap::Args)]
pub struct Args {
    /// Run standalone: the program is packed into the boot (fw_cfg) and
    /// its I/O goes over a serial line (the Linux VM is not used).
    #[arg(long)]
    standalone: bool,
    /// Run every command line of FILE (words split on blanks, '…' and "…"
    /// quoting, # comments) one after another in one boot; their stdin is
    /// empty; the exit status is the last job's.
    #[arg(long, value_name = "FILE", conflicts_with = "standalone")]
    batch: Option<PathBuf>,
    /// Seconds both machines may take until the Linux VM is attached to
    /// the LWK.
    #[arg(long, default_value_t = 180)]
    attach_timeout: u64,
    /// Tests: the LWK is a host stand-in running programs natively (checks
    /// the Linux VM's side of job launch without seL4).
    #[arg(long, hide = true)]
    stand_in: bool,
    /// Tests: do not start the Linux VM (the run must fail clearly).
    #[arg(long, hide = true)]
    no_linux_vm: bool,
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
    #[arg(
        trailing_var_arg = true,
        required_unless_present = "batch",
        allow_hyphen_values = true
    )]
    command: Vec<OsString>,
}

/// Runs the command; returns the exit status to exit with.
pub fn run(args: &Args) -> Result<i32> {
    if args.variant.is_debug() {
        bail!(
            "refusing to run a foreign program on a debug kernel ({}); use release or release-smp",
            args.variant
        );
    }
    if args.standalone {
        standalone(args)
    } else {
        with_linux_vm(args)
    }
}

/// The default mode: both machines, the job launched through the Linux VM.
fn with_linux_vm(args: &Args) -> Result<i32> {
    let commands: Vec<Vec<OsString>> = match &args.batch {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let lines = parse_batch(&text)?;
            if lines.is_empty() {
                bail!("{} holds no command", file.display());
            }
            lines
        }
        None => vec![args.command.clone()],
    };
    let mut programs = Vec::new();
    for c in &commands {
        let p = resolve(&c[0])?;
        programs.push(
            std::fs::canonicalize(&p).with_context(|| format!("cannot find {}", p.display()))?,
        );
    }
    let share = std::fs::canonicalize(std::env::current_dir()?)?;
    let lwk = if args.stand_in {
        Lwk::StandIn
    } else {
        let toolchain = setup::ensure()?;
        build::build(&toolchain, args.variant)?;
        Lwk::Sel4 {
            variant: args.variant,
            nodes: args.nodes,
            mem: args.mem.clone(),
        }
    };
    let config = Config {
        lwk,
        linux_vm: !args.no_linux_vm,
        programs: program_dirs(&share, &programs),
        share,
        attach_timeout: Duration::from_secs(args.attach_timeout),
        tag: "run".into(),
        echo: args.console,
    };
    let mut session = Session::start(&config)?;
    let env = environment();
    let timeout = Duration::from_secs(args.timeout);
    let mut status = 0;
    let single = commands.len() == 1 && args.batch.is_none();
    for (i, (command, program)) in commands.iter().zip(&programs).enumerate() {
        let argv: Vec<Vec<u8>> = command.iter().map(|a| a.as_bytes().to_vec()).collect();
        let stdin = if single { Stdin::Inherit } else { Stdin::Null };
        let job = Job {
            program,
            argv: &argv,
            env: &env,
        };
        let exit = session.run(
            &job,
            stdin,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
            timeout,
        )?;
        status = exit.shell_status();
        let shown = command
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        match exit {
            ExitStatus::Lost => step(format!(
                "job {}: `{shown}` was lost (the LWK or the daemon restarted); status 125",
                i + 1
            )),
            _ if !single => step(format!("job {}: `{shown}`: status {status}", i + 1)),
            _ => {}
        }
    }
    Ok(status)
}

/// The caller's environment as `NAME=value` strings.
fn environment() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.as_bytes().to_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            e
        })
        .collect()
}

/// Command lines of a batch file: blank lines and `#` comments skipped,
/// words split on blanks, `'…'` literal, `"…"` with `\"` and `\\`,
/// a backslash outside quotes escaping the next character.
pub fn parse_batch(text: &str) -> Result<Vec<Vec<OsString>>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut chars = trimmed.chars();
        while let Some(c) = chars.next() {
            match c {
                ' ' | '\t' => {
                    if let Some(w) = word.take() {
                        words.push(OsString::from(w));
                    }
                }
                '\'' => {
                    let w = word.get_or_insert_with(String::new);
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => w.push(c),
                            None => bail!("line {}: unterminated '", n + 1),
                        }
                    }
                }
                '"' => {
                    let w = word.get_or_insert_with(String::new);
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some(c @ ('"' | '\\')) => w.push(c),
                                Some(c) => {
                                    w.push('\\');
                                    w.push(c);
                                }
                                None => bail!("line {}: unterminated \"", n + 1),
                            },
                            Some(c) => w.push(c),
                            None => bail!("line {}: unterminated \"", n + 1),
                        }
                    }
                }
                '\\' => {
                    let c = chars.next().unwrap_or('\\');
                    word.get_or_insert_with(String::new).push(c);
                }
                c => word.get_or_insert_with(String::new).push(c),
            }
        }
        if let Some(w) = word {
            words.push(OsString::from(w));
        }
        out.push(words);
    }
    Ok(out)
}

/// `--standalone`: the program packed into the boot.
fn standalone(args: &Args) -> Result<i32> {
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
    while let Some((kind, body)) = read_frame(&mut conn) {
        let len = body.len();
        match kind {
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

/// Reads one job-channel frame from COM2 (kind u8, length u16 LE, body);
/// `None` at the end of the stream.
pub fn read_frame(conn: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 3];
    conn.read_exact(&mut head).ok()?;
    let mut body = vec![0u8; u16::from_le_bytes([head[1], head[2]]) as usize];
    conn.read_exact(&mut body).ok()?;
    Some((head[0], body))
}

/// Removes the run's scratch directory.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lines_split_like_a_shell() {
        let text = "# comment\n\nbusybox echo 'a b' c\n  sort \"x \\\" y\" d\\ e  \n";
        let got = parse_batch(text).unwrap();
        let want: Vec<Vec<OsString>> = vec![
            vec!["busybox".into(), "echo".into(), "a b".into(), "c".into()],
            vec!["sort".into(), "x \" y".into(), "d e".into()],
        ];
        assert_eq!(got, want);
        assert!(parse_batch("echo 'open").is_err());
    }
}
