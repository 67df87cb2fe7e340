//! End-to-end tests of `cargo xtask run --standalone`: real static
//! programs (musl and glibc C, Debian's unmodified busybox-static) run on
//! the LWK through the user-facing command, with stdout, stdin and the exit
//! status compared exactly with the same program run natively on the host
//! (Linux is the oracle).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::layout::{self, Variant};
use crate::proc::{self, step};

/// QEMU nodes of every run: node 0 for the personality's control thread,
/// three application nodes.
const NODES: u32 = 4;

/// What `tests/programs/threads.c` prints on the LWK with three
/// application nodes (natively a fourth thread starts and nothing is
/// pinned, so Linux is not the oracle here).
const THREADS_EXPECTED: &str = "fourth thread: EAGAIN\n\
counter 900 of 900, join values 30\n\
one node per thread: yes\n\
thread after join: ok 7\n\
timed wait: ETIMEDOUT\n";

/// The pthread program (musl and glibc): three threads on three nodes
/// synchronising through futexes, the fourth refused, a freed node used
/// again, a timed wait timing out.
pub fn thread_programs(variant: Variant) -> Result<()> {
    let mut failures = Vec::new();
    for compiler in ["musl-gcc", "gcc"] {
        let exe = build_c_with("threads", compiler, &["-lpthread"])?;
        let argv = vec![exe.to_string_lossy().into_owned()];
        step(format!("run {variant}: {} (3 threads)", argv[0]));
        let (out, status) = run(&argv, b"", Some(variant))?;
        if status != 0 || out != THREADS_EXPECTED.as_bytes() {
            failures.push(format!(
                "{compiler}: status {status}, output {:?}, expected status 0 and {THREADS_EXPECTED:?}",
                String::from_utf8_lossy(&out)
            ));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// Prints (never checks) two figures of issue 4: the rate of null system
/// calls through the trap, and the time from the start of loading Debian's
/// busybox to its first instruction (the personality's `load_us`: ELF
/// parse, `syscall` rewrite, spaces, image and stack mapping, initial
/// stack). Both under QEMU TCG, so only ratios measured in the same run
/// mean anything (`cargo xtask bench`).
pub fn measurements(variant: Variant) -> Result<()> {
    let getpid = build_c("syscalls", "gcc")?;
    let argv = vec![getpid.to_string_lossy().into_owned(), "100000".into()];
    let (out, _) = run(&argv, b"", Some(variant))?;
    println!(
        "[xtask] measured (TCG, {NODES} nodes): {}",
        String::from_utf8_lossy(&out).trim()
    );
    let argv = vec!["/bin/busybox".to_string(), "true".into()];
    run(&argv, b"", Some(variant))?;
    let log = std::fs::read_to_string(layout::logs_dir().join("run.log"))?;
    let load = log
        .lines()
        .find_map(|l| l.split("load_us=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .context("no load_us in the personality's JOB-EXIT line")?;
    println!("[xtask] measured (TCG): busybox load and start: {load} us (ELF parse to first instruction)");
    Ok(())
}

/// A program run and its stdin.
struct Case {
    argv: Vec<String>,
    stdin: &'static [u8],
}

fn case(argv: &[&str], stdin: &'static [u8]) -> Case {
    Case {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        stdin,
    }
}

/// Builds `tests/programs/<name>.c` statically with `compiler` (musl-gcc
/// or gcc) into `target/lwk/programs/<name>-<compiler>`.
pub fn build_c(name: &str, compiler: &str) -> Result<PathBuf> {
    build_c_with(name, compiler, &[])
}

fn build_c_with(name: &str, compiler: &str, libs: &[&str]) -> Result<PathBuf> {
    let src = layout::repo_root()
        .join("tests/programs")
        .join(format!("{name}.c"));
    let dir = layout::lwk_dir().join("programs");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("{name}-{compiler}"));
    proc::run(
        Command::new(compiler)
            .args(["-static", "-O2", "-o"])
            .arg(&out)
            .arg(&src)
            .args(libs),
    )?;
    Ok(out)
}

/// Builds `tests/programs/rs_hello.rs` as a static, non-PIE Rust std
/// program.
fn build_rust() -> Result<PathBuf> {
    let src = layout::repo_root().join("tests/programs/rs_hello.rs");
    let out = layout::lwk_dir().join("programs").join("rs_hello");
    proc::run(
        Command::new("rustc")
            .args([
                "-O",
                "-C",
                "target-feature=+crt-static",
                "-C",
                "relocation-model=static",
                "-o",
            ])
            .arg(&out)
            .arg(&src),
    )?;
    Ok(out)
}

/// Runs `argv` natively (the oracle) or through `cargo xtask run`.
fn run(argv: &[String], stdin: &[u8], lwk: Option<Variant>) -> Result<(Vec<u8>, i32)> {
    let mut cmd = match lwk {
        Some(v) => {
            let mut c = Command::new(std::env::current_exe()?);
            c.args(["run", "--standalone", "--variant", v.name()])
                .args(["--nodes", &NODES.to_string(), "--"])
                .args(argv);
            c
        }
        None => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    cmd.env("LWK_TEST", "yes")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", proc::display(&cmd)))?;
    let mut input = child.stdin.take().context("stdin")?;
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output()?;
    let _ = feeder.join();
    Ok((out.stdout, out.status.code().unwrap_or(-1)))
}

/// Every case on the LWK and natively; each must match exactly.
pub fn standalone_programs(variant: Variant) -> Result<()> {
    let musl = build_c("hello", "musl-gcc")?;
    let glibc = build_c("hello", "gcc")?;
    let touch = build_c("touch256", "gcc")?;
    let rust = build_rust()?;
    let busybox = "/bin/busybox";
    let cases = [
        case(&[touch.to_str().unwrap_or_default()], b""),
        case(&[rust.to_str().unwrap_or_default(), "a", "b"], b""),
        case(
            &[musl.to_str().unwrap_or_default(), "one", "two words"],
            b"",
        ),
        case(&[glibc.to_str().unwrap_or_default(), "x"], b""),
        case(&[busybox, "echo", "hi", "there"], b""),
        case(&[busybox, "true"], b""),
        case(&[busybox, "false"], b""),
        case(&[busybox, "seq", "1", "5"], b""),
        case(&[busybox, "expr", "6", "*", "7"], b""),
        case(&[busybox, "printf", "%s-%d\\n", "a", "5"], b""),
        case(&[busybox, "basename", "/a/b/c.txt", ".txt"], b""),
        case(&[busybox, "sha256sum"], b"hello, LWK\n"),
    ];
    let mut failures = Vec::new();
    for c in &cases {
        step(format!("run {variant}: {}", c.argv.join(" ")));
        let native = run(&c.argv, c.stdin, None)?;
        let lwk = run(&c.argv, c.stdin, Some(variant))?;
        // argv[0] is the same path on both sides, so outputs compare as is.
        if native != lwk {
            failures.push(format!(
                "`{}`: LWK gave status {} and {:?}, Linux status {} and {:?}",
                c.argv.join(" "),
                lwk.1,
                String::from_utf8_lossy(&lwk.0),
                native.1,
                String::from_utf8_lossy(&native.0)
            ));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}
