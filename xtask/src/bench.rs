//! `cargo xtask bench [--quick] [--icount]`: the LWK against Linux, side
//! by side, in one run (issue 7; method and how to read the figures in
//! `docs/bench.md`).
//!
//! The same static programs (`tests/programs/bench_*.c`) run
//!
//! - on the LWK: one standalone boot of the seL4 machine (`release-smp`,
//!   the `simulate` script) with every job packed ([`lwk`]); the file I/O
//!   job through `cargo xtask run` (the LWK with the Linux VM serving its
//!   files);
//! - as ordinary processes in a Linux VM on the same QEMU model: CPU,
//!   node count, memory and single-threaded TCG ([`linux`]).
//!
//! Results: `target/lwk/bench/results.md` (table, QEMU command lines,
//! sample counts), SVG plots beside it, the raw console logs under
//! `target/lwk/bench/<mode>/`. With `--icount` every figure is measured a
//! second time with `-icount shift=0,sleep=off` on both machines.

mod linux;
mod lwk;
mod programs;
mod report;
mod stats;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::layout::{self, Variant};
use crate::proc::step;
use crate::{build, linuxvm, setup};
use report::{Row, Value};
use stats::{JobOut, Summary};

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Few samples and small sizes (the smoke test of `cargo xtask test`).
    #[arg(long)]
    quick: bool,
    /// Also measure every figure under `-icount shift=0,sleep=off`
    /// (guest time counts instructions; the host's noise is removed).
    #[arg(long)]
    icount: bool,
    /// Only the icount measurements (no plain TCG pass).
    #[arg(long, hide = true)]
    icount_only: bool,
    /// Kernel variant of the LWK (release kernels only).
    #[arg(long, short, value_enum, default_value_t = Variant::ReleaseSmp)]
    variant: Variant,
    /// QEMU `-smp` of both machines.
    #[arg(long, default_value_t = 4)]
    nodes: u32,
    /// QEMU `-m` of both machines.
    #[arg(long, default_value = "512M")]
    mem: String,
    /// Seconds each boot may take.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
    /// Only these jobs (comma-separated: boot, syscall, noise, noise1,
    /// mem, touch, io), for looking into one figure.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// The QEMU machine both sides get.
pub struct Machine {
    pub cpu: String,
    pub nodes: u32,
    pub mem: String,
    pub icount: bool,
}

/// One benchmark job: a program and its arguments.
#[derive(Clone, Debug)]
pub struct Job {
    pub name: String,
    pub program: &'static str,
    pub args: Vec<String>,
}

impl Job {
    pub fn new(name: &str, program: &'static str, args: &[&str]) -> Job {
        Job {
            name: name.to_string(),
            program,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// Sizes and sample counts.
struct Params {
    syscalls: u32,
    noise_samples: u32,
    noise_work: u32,
    touch_mib: u32,
    updates: u32,
    mem_grain_mib: u32,
    io_mib: u32,
    opens: u32,
}

impl Params {
    fn new(quick: bool) -> Params {
        if quick {
            Params {
                syscalls: 500,
                noise_samples: 100,
                noise_work: 20000,
                touch_mib: 32,
                updates: 100_000,
                mem_grain_mib: 32,
                io_mib: 4,
                opens: 20,
            }
        } else {
            Params {
                syscalls: 10_000,
                noise_samples: 2000,
                noise_work: 20000,
                touch_mib: 256,
                updates: 2_000_000,
                mem_grain_mib: 4,
                io_mib: 64,
                opens: 200,
            }
        }
    }
}

/// `512M`, `2G`, `1024` (MiB) → MiB.
fn mem_mib(mem: &str) -> Result<u64> {
    let t = mem.trim();
    let (num, mult) = match t.chars().last() {
        Some('G' | 'g') => (&t[..t.len() - 1], 1024),
        Some('M' | 'm') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    Ok(num
        .parse::<u64>()
        .with_context(|| format!("cannot read memory size {mem:?}"))?
        * mult)
}

/// The jobs of one boot; the first is `boot` (its first instruction is
/// the boot figure). `io` only where files are served.
fn jobs(p: &Params, app_nodes: u32, ram_mib: u64, io_dir: Option<&str>) -> Vec<Job> {
    let s = |v: u32| v.to_string();
    let mut j = vec![
        Job::new("boot", "boot", &[]),
        Job::new("syscall", "syscall", &[&s(p.syscalls)]),
        Job::new(
            "noise1",
            "noise",
            &[&s(p.noise_samples), &s(p.noise_work), "1"],
        ),
        Job::new("mem", "mem", &[&ram_mib.to_string(), &s(p.mem_grain_mib)]),
        Job::new("touch", "touch", &[&s(p.touch_mib), &s(p.updates)]),
        // Last: under -icount its threads can take the LWK boot past its
        // time limit, and what ran before must still count.
        Job::new(
            "noise",
            "noise",
            &[&s(p.noise_samples), &s(p.noise_work), &s(app_nodes)],
        ),
    ];
    if let Some(dir) = io_dir {
        j.push(io_job(p, dir));
    }
    j
}

fn io_job(p: &Params, dir: &str) -> Job {
    Job::new(
        "io",
        "io",
        &[dir, &p.io_mib.to_string(), &p.opens.to_string()],
    )
}

/// One mode's measurements.
struct ModeResult {
    name: &'static str,
    rows: Vec<Row>,
    commands: Vec<String>,
    notes: Vec<String>,
    /// (file name, title, samples, colour) of the histograms.
    plots: Vec<(String, String, Vec<f64>, &'static str)>,
}

/// Runs `cargo xtask bench`.
pub fn run(args: &Args) -> Result<()> {
    if args.variant.is_debug() {
        anyhow::bail!(
            "benchmarks run on release kernels only (got {})",
            args.variant
        );
    }
    let toolchain = setup::ensure()?;
    build::build(&toolchain, args.variant)?;
    let out = layout::lwk_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    let programs = programs::build(&out)?;
    let image = linuxvm::image::build()?;
    let params = Params::new(args.quick);
    let ram = mem_mib(&args.mem)?;
    let app_nodes = args.nodes.saturating_sub(1).max(1);
    let timeout = Duration::from_secs(args.timeout);
    let modes: &[(&'static str, bool)] = if args.icount_only {
        &[("icount", true)]
    } else if args.icount {
        &[("tcg", false), ("icount", true)]
    } else {
        &[("tcg", false)]
    };
    let mut results = Vec::new();
    for &(name, icount) in modes {
        let machine = Machine {
            cpu: crate::simulate::DEFAULT_CPU.to_string(),
            nodes: args.nodes,
            mem: args.mem.clone(),
            icount,
        };
        let work = out.join(name);
        let pick = |mut j: Vec<Job>| {
            if !args.only.is_empty() {
                // The first job stays: the Linux VM's init is bench_boot.
                j.retain(|j| j.name == "boot" || args.only.contains(&j.name));
            }
            j
        };
        let lwk_jobs = pick(jobs(&params, app_nodes, ram, None));
        let lwk_timeout = if icount {
            timeout.min(Duration::from_secs(if args.quick { 300 } else { 900 }))
        } else {
            timeout
        };
        let lwk = lwk::run(
            args.variant,
            &machine,
            &programs,
            &lwk_jobs,
            &work,
            lwk_timeout,
        )?;
        let linux_jobs = pick(jobs(&params, app_nodes, ram, Some("/mnt/bench")));
        // Under -icount Debian's kernel may never finish bringing up its
        // secondary CPUs (QEMU 7.2 here: the boot stops after `x86: Booting
        // SMP configuration:`); do not wait the whole timeout for that.
        let linux_timeout = if icount {
            timeout.min(Duration::from_secs(if args.quick { 180 } else { 300 }))
        } else {
            timeout
        };
        let linux = linux::run(
            &image,
            &machine,
            &programs,
            &linux_jobs,
            &work,
            linux_timeout,
        )?;
        let io_args = io_job(&params, ".").args;
        let (io_cmd, io) = if !args.only.is_empty() && !args.only.iter().any(|j| j == "io") {
            (String::new(), Err("not asked for (--only)".into()))
        } else if icount {
            (
                String::new(),
                Err("`cargo xtask run` (the two-machine session) has no -icount option".into()),
            )
        } else {
            lwk::run_io(
                args.variant,
                &machine,
                &programs.exe("io"),
                &io_args,
                &work,
                // A stuck session should not hold the table for long.
                timeout.min(Duration::from_secs(if args.quick { 120 } else { 600 })),
            )
        };
        results.push(assemble(
            name, &params, ram, app_nodes, &lwk, &linux, io_cmd, io, icount,
        ));
    }
    let text = write_report(&out, args, &params, &programs, &image, &results)?;
    println!("{text}");
    step(format!(
        "bench: wrote {} and {} plot(s)",
        out.join("results.md").display(),
        results.iter().map(|r| r.plots.len() + 1).sum::<usize>()
    ));
    Ok(())
}

/// The smoke test of `cargo xtask test`: `bench --quick` runs and writes
/// its table (every item) and plots. No figure is judged.
pub fn smoke(variant: Variant) -> Result<()> {
    run(&Args {
        quick: true,
        icount: false,
        icount_only: false,
        variant,
        nodes: 4,
        mem: "512M".into(),
        timeout: 900,
        only: Vec::new(),
    })?;
    let out = layout::lwk_dir().join("bench");
    let md = std::fs::read_to_string(out.join("results.md")).context("no results.md")?;
    for item in 1..=6 {
        if !md.contains(&format!("\n| {item} | ")) {
            anyhow::bail!("results.md has no row for item {item}");
        }
    }
    for svg in ["ratios-tcg.svg", "noise-lwk-tcg.svg", "noise-linux-tcg.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).with_context(|| format!("no {svg}"))?;
        if !text.trim_end().ends_with("</svg>") {
            anyhow::bail!("{svg} is not a whole SVG document");
        }
    }
    Ok(())
}

/// The figure of `key` in job `name`'s summary line, or why there is none.
fn figure(
    jobs: &std::collections::BTreeMap<String, JobOut>,
    name: &str,
    summary: &str,
    key: &str,
    scale: f64,
) -> Value {
    match jobs.get(name) {
        None => Value::Missing(format!("job {name} did not run")),
        Some(j) if !j.ok() => Value::Missing(format!("{name}: {}", j.failure())),
        Some(j) => match j.field(summary, key) {
            Some(v) => Value::Num(v * scale),
            None => Value::Missing(format!("{name} printed no {key}")),
        },
    }
}

/// A sample-set statistic of job `name`, or why there is none.
fn sample_stat(
    jobs: &std::collections::BTreeMap<String, JobOut>,
    name: &str,
    summary: &str,
    stat: impl Fn(&Summary) -> f64,
) -> (Value, usize) {
    match jobs.get(name) {
        None => (Value::Missing(format!("job {name} did not run")), 0),
        Some(j) if !j.ok() => (Value::Missing(format!("{name}: {}", j.failure())), 0),
        Some(j) => match Summary::of(&j.samples(summary, None)) {
            Some(s) => (Value::Num(stat(&s)), s.n),
            None => (Value::Missing(format!("{name} printed no samples")), 0),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    name: &'static str,
    p: &Params,
    ram: u64,
    app_nodes: u32,
    lwk: &lwk::LwkRun,
    linux: &linux::LinuxRun,
    io_cmd: String,
    io: Result<JobOut, String>,
    linux_icount: bool,
) -> ModeResult {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if let Err(why) = &lwk.verdict {
        notes.push(format!("LWK boot: {why} (console: {})", lwk.log.display()));
    }
    if let Err(why) = &linux.verdict {
        notes.push(format!(
            "Linux VM boot: {why} (console: {})",
            linux.log.display()
        ));
    }
    let (l, x) = (&lwk.jobs, &linux.jobs);
    // A job missing from a side whose boot failed: say why the boot did.
    let explain = |rows: &mut Vec<Row>| {
        for r in rows.iter_mut() {
            for (v, verdict, side) in [
                (&mut r.lwk, &lwk.verdict, "the LWK boot"),
                (&mut r.linux, &linux.verdict, "the Linux VM"),
            ] {
                if let (Value::Missing(m), Err(_)) = (&*v, verdict) {
                    if m.contains("did not run") || m.contains("did not end") {
                        let first = if side == "the Linux VM" && linux.first_output.is_none() {
                            " before init"
                        } else {
                            ""
                        };
                        *v = Value::Missing(format!("{side} stopped{first} (see the notes)"));
                    }
                }
            }
        }
    };
    let us = 1e-3;
    let stat_row = |rows: &mut Vec<Row>,
                    item: u8,
                    figure: &str,
                    unit: &'static str,
                    job: &str,
                    series: &str,
                    f: &dyn Fn(&Summary) -> f64| {
        let (a, na) = sample_stat(l, job, series, f);
        let (b, nb) = sample_stat(x, job, series, f);
        rows.push(Row {
            item,
            figure: figure.to_string(),
            unit,
            lwk: a,
            linux: b,
            samples: format!("{na} / {nb}"),
        });
    };
    // 1. Null system call.
    stat_row(
        &mut rows,
        1,
        "getpid latency, median",
        "µs",
        "syscall",
        "syscall",
        &|s| s.median * us,
    );
    stat_row(
        &mut rows,
        1,
        "getpid latency, p99",
        "µs",
        "syscall",
        "syscall",
        &|s| s.p99 * us,
    );
    // 2. OS noise.
    for (job, label) in [
        ("noise", format!("{app_nodes} threads, one per app node")),
        ("noise1", "1 thread".to_string()),
    ] {
        let f = format!("noise ({label}): ");
        stat_row(
            &mut rows,
            2,
            &format!("{f}min"),
            "µs",
            job,
            "noise",
            &|s| s.min * us,
        );
        stat_row(
            &mut rows,
            2,
            &format!("{f}median"),
            "µs",
            job,
            "noise",
            &|s| s.median * us,
        );
        stat_row(
            &mut rows,
            2,
            &format!("{f}max"),
            "µs",
            job,
            "noise",
            &|s| s.max * us,
        );
        stat_row(
            &mut rows,
            2,
            &format!("{f}(max−min)/min"),
            "",
            job,
            "noise",
            &|s| s.spread(),
        );
    }
    // 3. Memory available.
    let grain = format!("search to {} MiB", p.mem_grain_mib);
    let largest = |jobs| figure(jobs, "mem", "mem", "largest_mib", 1.0);
    rows.push(Row {
        item: 3,
        figure: "largest allocation (mmap + touch)".into(),
        unit: "MiB",
        lwk: largest(l),
        linux: largest(x),
        samples: grain.clone(),
    });
    rows.push(Row {
        item: 3,
        figure: format!("… as a share of guest RAM ({ram} MiB)"),
        unit: "%",
        lwk: share(largest(l), ram),
        linux: share(largest(x), ram),
        samples: grain,
    });
    // 4. Page faults and random access.
    rows.push(Row {
        item: 4,
        figure: format!("page faults touching {} MiB", p.touch_mib),
        unit: "faults",
        lwk: faults(l),
        linux: faults(x),
        samples: "1 / 1".into(),
    });
    let one = |item, fig: String, unit, key: &str, scale| Row {
        item,
        figure: fig,
        unit,
        lwk: figure(l, "touch", "touch", key, scale),
        linux: figure(x, "touch", "touch", key, scale),
        samples: "1 / 1".into(),
    };
    rows.push(one(
        4,
        format!("time to touch {} MiB", p.touch_mib),
        "ms",
        "touch_ms",
        1.0,
    ));
    rows.push(Row {
        samples: format!("{} / {} updates", p.updates, p.updates),
        ..one(
            4,
            format!("random 64-bit update over {} MiB", p.touch_mib),
            "ns/update",
            "update_ns",
            1.0,
        )
    });
    // 5. Forwarded I/O.
    let io_jobs: std::collections::BTreeMap<String, JobOut> = match &io {
        Ok(j) => [("io".to_string(), j.clone())].into(),
        Err(_) => Default::default(),
    };
    let io_value = |key: &str, scale: f64| match &io {
        Ok(_) => figure(&io_jobs, "io", "io", key, scale),
        Err(why) => Value::Missing(why.clone()),
    };
    let io_samples = |n: u32| format!("{n} / {n}");
    rows.push(Row {
        item: 5,
        figure: format!("write {} MiB (1 MiB writes + fsync)", p.io_mib),
        unit: "MiB/s",
        lwk: io_value("write_mib_s", 1.0),
        linux: figure(x, "io", "io", "write_mib_s", 1.0),
        samples: io_samples(1),
    });
    rows.push(Row {
        item: 5,
        figure: format!("read {} MiB (1 MiB reads)", p.io_mib),
        unit: "MiB/s",
        lwk: io_value("read_mib_s", 1.0),
        linux: figure(x, "io", "io", "read_mib_s", 1.0),
        samples: io_samples(1),
    });
    for (label, stat) in [("median", 0.5), ("p99", 0.99)] {
        let lwk_v = match &io {
            Ok(j) => match Summary::of(&j.samples("io", None)) {
                Some(s) => Value::Num(if stat < 0.9 { s.median } else { s.p99 } * us),
                None => Value::Missing("no open+close samples".into()),
            },
            Err(why) => Value::Missing(why.clone()),
        };
        let (lin, _) = sample_stat(
            x,
            "io",
            "io",
            |s| if stat < 0.9 { s.median } else { s.p99 } * us,
        );
        rows.push(Row {
            item: 5,
            figure: format!("open+close, {label}"),
            unit: "µs",
            lwk: lwk_v,
            linux: lin,
            samples: io_samples(p.opens),
        });
    }
    // 6. Boot.
    let wall = |d: Option<Duration>, why: &str| match d {
        Some(d) => Value::Num(d.as_secs_f64()),
        None => Value::Missing(why.into()),
    };
    rows.push(Row {
        item: 6,
        figure: "boot: QEMU start → first application output (wall clock)".into(),
        unit: "s",
        lwk: wall(lwk.first_output, "no output from the first job"),
        linux: wall(linux.first_output, "no BENCH-FIRST line"),
        samples: "1 / 1".into(),
    });
    rows.push(Row {
        item: 6,
        figure: "boot: reset → first application instruction (guest TSC)".into(),
        unit: "s",
        lwk: figure(l, "boot", "boot", "first_instruction_ms", 1e-3),
        linux: figure(x, "boot", "boot", "first_instruction_ms", 1e-3),
        samples: "1 / 1".into(),
    });
    if let Some(cpus) = x.get("boot").and_then(|b| {
        b.lines
            .iter()
            .find_map(|l| l.split("BENCH-CPUS online=").nth(1))
    }) {
        notes.push(format!(
            "Linux CPUs online before the first job: {}{}",
            cpus.trim(),
            if linux_icount {
                format!(
                    " (booted with `{}`, the others onlined by init: see docs/bench.md)",
                    linux::ICOUNT_APPEND
                )
            } else {
                String::new()
            }
        ));
    }
    for (m, t) in &lwk.markers {
        notes.push(format!(
            "LWK console: `{m}` {:.2} s after QEMU start",
            t.as_secs_f64()
        ));
    }
    if let Some(us) = lwk.load_us.get("boot") {
        notes.push(format!(
            "LWK: loading bench_boot (ELF parse to its first instruction, the personality's load_us) took {:.1} ms",
            *us as f64 / 1e3
        ));
    }
    for job in ["mem", "noise", "noise1"] {
        for (side, jobs) in [("LWK", l), ("Linux", x)] {
            if let Some(s) = jobs
                .get(job)
                .and_then(|j| j.summary(job.trim_end_matches('1')))
            {
                let keep: Vec<String> = ["mode", "pinned", "threads", "probes", "seconds"]
                    .iter()
                    .filter_map(|k| s.get(*k).map(|v| format!("{k}={v}")))
                    .collect();
                notes.push(format!("{side} {job}: {}", keep.join(" ")));
            }
        }
    }
    explain(&mut rows);
    let mut commands = vec![
        format!("LWK: {}", lwk.command),
        format!("Linux: {}", linux.command),
    ];
    if !io_cmd.is_empty() {
        commands.push(format!("LWK file I/O (both machines): {io_cmd}"));
    }
    let mut plots = Vec::new();
    for (side, jobs, color) in [("lwk", l, "#c0504d"), ("linux", x, "#4f81bd")] {
        let title = if side == "lwk" { "LWK" } else { "Linux" };
        for (job, what) in [
            ("noise", format!("OS noise, {app_nodes} threads")),
            ("noise1", "OS noise, 1 thread".to_string()),
            ("syscall", "getpid latency".to_string()),
        ] {
            if let Some(j) = jobs.get(job) {
                plots.push((
                    format!("{job}-{side}-{name}.svg"),
                    format!("{title}: {what} ({name})"),
                    j.samples(job.trim_end_matches('1'), None),
                    color,
                ));
            }
        }
    }
    ModeResult {
        name,
        rows,
        commands,
        notes,
        plots,
    }
}

fn share(v: Value, ram: u64) -> Value {
    match v {
        Value::Num(m) => Value::Num(m * 100.0 / ram as f64),
        other => other,
    }
}

/// The fault count; the LWK without `getrusage` counts as 0 only if the
/// program ran to completion (a fault would have ended the job).
fn faults(jobs: &std::collections::BTreeMap<String, JobOut>) -> Value {
    let Some(j) = jobs.get("touch") else {
        return Value::Missing("job touch did not run".into());
    };
    if !j.ok() {
        return Value::Missing(format!("touch: {}", j.failure()));
    }
    let Some(s) = j.summary("touch") else {
        return Value::Missing("touch printed no summary".into());
    };
    match s.get("faults").map(String::as_str) {
        Some("unavailable") if s.get("complete").map(String::as_str) == Some("yes") => {
            Value::Text("0 (no demand paging: a fault ends the job)".into())
        }
        Some(v) => v
            .parse()
            .map(Value::Num)
            .unwrap_or_else(|_| Value::Missing(format!("getrusage: {v}"))),
        None => Value::Missing("no fault count".into()),
    }
}

/// Writes `results.md` and the plots; returns the Markdown.
fn write_report(
    out: &Path,
    args: &Args,
    p: &Params,
    programs: &programs::Programs,
    image: &linuxvm::image::Image,
    results: &[ModeResult],
) -> Result<String> {
    // Plots of an earlier run (another mode) would pass for this one's.
    for entry in std::fs::read_dir(out)?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "svg") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let mut s = String::new();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let qemu = std::process::Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "# cargo xtask bench{}{}\n\n{date}; host: {cpu}, {cores} cores; {qemu}; LWK: seL4 {} ({} nodes, {}); Linux: {} ({} nodes, {}); programs: {}.\n",
        if args.quick { " --quick" } else { "" },
        if args.icount { " --icount" } else { "" },
        args.variant,
        args.nodes,
        args.mem,
        image.kernel_release,
        args.nodes,
        args.mem,
        programs.compiler
    );
    let _ = writeln!(
        s,
        "Samples: getpid {} calls; noise {} quanta of {} LCG steps per thread; memory searched to {} MiB; {} MiB touched, {} random updates; file I/O {} MiB, {} open+close.\n",
        p.syscalls, p.noise_samples, p.noise_work, p.mem_grain_mib, p.touch_mib, p.updates, p.io_mib, p.opens
    );
    for r in results {
        let _ = writeln!(
            s,
            "## {}\n",
            if r.name == "icount" {
                "QEMU TCG with -icount shift=0,sleep=off (guest time = instructions)"
            } else {
                "QEMU TCG (guest time = host time)"
            }
        );
        s.push_str(&report::table(&r.rows));
        s.push('\n');
        if !r.notes.is_empty() {
            s.push_str("Notes:\n\n");
            for n in &r.notes {
                let _ = writeln!(s, "- {n}");
            }
            s.push('\n');
        }
        s.push_str("QEMU command lines:\n\n```\n");
        for c in &r.commands {
            let _ = writeln!(s, "{c}");
        }
        s.push_str("```\n\n");
        let ratios = format!("ratios-{}.svg", r.name);
        std::fs::write(
            out.join(&ratios),
            report::ratios_svg(&format!("LWK / Linux ({})", r.name), &r.rows),
        )?;
        let mut names = vec![ratios];
        for (file, title, samples, color) in &r.plots {
            std::fs::write(out.join(file), report::histogram_svg(title, samples, color))?;
            names.push(file.clone());
        }
        let _ = writeln!(s, "Plots: {}\n", names.join(", "));
    }
    std::fs::write(out.join("results.md"), &s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_and_job_lists() {
        assert_eq!(mem_mib("512M").unwrap(), 512);
        assert_eq!(mem_mib("2G").unwrap(), 2048);
        assert_eq!(mem_mib("300").unwrap(), 300);
        assert!(mem_mib("lots").is_err());
        let p = Params::new(true);
        let lwk = jobs(&p, 3, 512, None);
        assert_eq!(lwk[0].name, "boot");
        assert!(lwk.iter().all(|j| j.name != "io"));
        let linux = jobs(&p, 3, 512, Some("/mnt/bench"));
        assert_eq!(linux.last().unwrap().args[0], "/mnt/bench");
        assert_eq!(lwk[5].name, "noise");
        assert_eq!(lwk[5].args[2], "3");
    }

    #[test]
    fn faults_without_getrusage_need_a_complete_run() {
        let job = |text: &str, status| JobOut {
            status: Some(status),
            signal: None,
            lines: vec![text.to_string()],
        };
        let mut m = std::collections::BTreeMap::new();
        m.insert(
            "touch".to_string(),
            job("BENCH touch mib=1 faults=unavailable complete=yes", 0),
        );
        assert!(matches!(faults(&m), Value::Text(_)));
        m.insert(
            "touch".to_string(),
            job("BENCH touch mib=1 faults=unavailable complete=yes", 1),
        );
        assert!(matches!(faults(&m), Value::Missing(_)));
        m.insert(
            "touch".to_string(),
            job("BENCH touch mib=1 faults=65536", 0),
        );
        assert!(matches!(faults(&m), Value::Num(v) if v == 65536.0));
    }
}
