//! Standalone job tests: test programs built from `tests/programs`, packed
//! into one boot, run one after another on the LWK; each must end exactly
//! as expected (exit status or signal) and the personality must go on to
//! the next job after every fault.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::layout::{self, Variant};
use crate::proc::{self, step};
use crate::qemu::Machine;

/// A test program and how its job must end: `JOB-EXIT ... status=N` or
/// `JOB-SIGNAL ... signal=N`.
struct Case {
    source: &'static str,
    args: &'static [&'static str],
    expect: Expect,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Exit(i32),
    Signal(i32),
}

const CASES: &[Case] = &[
    Case {
        source: "exit42.S",
        args: &[],
        expect: Expect::Exit(42),
    },
    Case {
        source: "segv.S",
        args: &[],
        expect: Expect::Signal(11),
    },
    Case {
        source: "ill.S",
        args: &[],
        expect: Expect::Signal(4),
    },
    Case {
        source: "fpe.S",
        args: &[],
        expect: Expect::Signal(8),
    },
    Case {
        source: "hidden_syscall.S",
        args: &[],
        expect: Expect::Signal(31),
    },
    // 100 000 system calls through the trap (its rate is printed on the
    // job channel; here only the exit status counts).
    Case {
        source: "syscalls.c",
        args: &["100000"],
        expect: Expect::Exit(0),
    },
    // After four faults in a row the personality still serves jobs.
    Case {
        source: "exit42.S",
        args: &["again"],
        expect: Expect::Exit(42),
    },
];

/// Builds a test program with the host C compiler (static, no libc for
/// the assembly ones).
pub fn build_program(source: &str) -> Result<PathBuf> {
    let src = layout::repo_root().join("tests/programs").join(source);
    let out_dir = layout::lwk_dir().join("programs");
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join(source.split('.').next().unwrap_or(source));
    let mut cmd = Command::new("cc");
    cmd.args(["-static", "-O2", "-o"]).arg(&out).arg(&src);
    if source.ends_with(".S") {
        cmd.arg("-nostdlib");
    }
    proc::run(&mut cmd).with_context(|| format!("building {source}"))?;
    Ok(out)
}

/// A job pack of programs `files[i]` named `paths[i]` (also their
/// `argv[0]`) with arguments `args[i]`, each with the one environment
/// variable `env`, no terminals, realtime 0.
pub fn pack<S: AsRef<str>>(
    paths: &[Vec<u8>],
    args: &[&[S]],
    files: &[Vec<u8>],
    env: &[u8],
) -> Vec<u8> {
    let argvs: Vec<Vec<&[u8]>> = paths
        .iter()
        .zip(args)
        .map(|(p, a)| {
            std::iter::once(p.as_slice())
                .chain(a.iter().map(|a| a.as_ref().as_bytes()))
                .collect()
        })
        .collect();
    let env = [env];
    let specs: Vec<lwk_jobpack::JobSpec> = (0..paths.len())
        .map(|i| lwk_jobpack::JobSpec {
            flags: 0,
            path: &paths[i],
            argv: &argvs[i],
            envp: &env,
            exe: &files[i],
        })
        .collect();
    lwk_jobpack::encode(&specs, 0)
}

/// Boots `variant` with every case in one job pack and checks each job's end.
pub fn standalone(variant: Variant, timeout: Duration) -> Result<()> {
    let mut exes = Vec::new();
    for c in CASES {
        exes.push((build_program(c.source)?, c));
    }
    let files: Vec<Vec<u8>> = exes
        .iter()
        .map(|(p, _)| std::fs::read(p))
        .collect::<Result<_, _>>()?;
    let paths: Vec<Vec<u8>> = exes
        .iter()
        .map(|(p, _)| p.to_string_lossy().into_owned().into_bytes())
        .collect();
    let args: Vec<&[&str]> = exes.iter().map(|(_, c)| c.args).collect();
    let pack = pack(&paths, &args, &files, b"LWK_TEST=1");
    let dir = layout::lwk_dir().join("programs");
    let pack_path = dir.join(format!("pack-{}.bin", std::process::id()));
    std::fs::write(&pack_path, pack)?;

    let logs = layout::logs_dir();
    std::fs::create_dir_all(&logs)?;
    let log = logs.join(format!("jobs-{variant}.log"));
    step(format!(
        "jobs {variant}: {} programs in one boot",
        CASES.len()
    ));
    let mut cmd = Command::new(variant.simulate_script());
    cmd.arg("--extra-qemu-args").arg(format!(
        "-fw_cfg name={},file={}",
        lwk_jobpack::FW_CFG_NAME,
        pack_path.display()
    ));
    let mut machine = Machine::spawn(cmd)?;
    let mut seen = Vec::new();
    let outcome = machine.watch(&log, timeout, "LWK root task", |line| {
        if let Some(e) = parse_end(line) {
            seen.push(e);
        }
        crate::console::jobs_line(line)
    })?;
    drop(machine);
    let _ = std::fs::remove_file(&pack_path);
    outcome
        .verdict
        .map_err(|why| anyhow::anyhow!("{why} (console log: {})", log.display()))?;
    let want: Vec<Expect> = CASES.iter().map(|c| c.expect).collect();
    if seen != want {
        bail!(
            "jobs ended {seen:?}, expected {want:?} (console log: {})",
            log.display()
        );
    }
    Ok(())
}

/// `JOB-EXIT ... status=N` / `JOB-SIGNAL ... signal=N`.
fn parse_end(line: &str) -> Option<Expect> {
    let field = |key: &str| -> Option<i32> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
    };
    if line.contains("JOB-EXIT") {
        field("status=").map(Expect::Exit)
    } else if line.contains("JOB-SIGNAL") {
        field("signal=").map(Expect::Signal)
    } else if line.contains("JOB-FAIL") {
        Some(Expect::Exit(126))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_job_lines() {
        assert_eq!(
            parse_end("JOB-EXIT job=1 path=/x status=42 syscalls=1"),
            Some(Expect::Exit(42))
        );
        assert_eq!(
            parse_end("JOB-SIGNAL job=2 path=/y signal=11 ip=0x1"),
            Some(Expect::Signal(11))
        );
        assert_eq!(
            parse_end("JOB-FAIL job=3 path=/z: bad"),
            Some(Expect::Exit(126))
        );
        assert_eq!(parse_end("personality: job pack"), None);
    }
}
