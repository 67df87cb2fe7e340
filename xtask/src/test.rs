//! `cargo xtask test`: the project's one test command, run by CI.
//!
//! Checks, in order, each counted in the closing `N passed, N failed` line:
//!
//! 1. `kernel <variant>`: each kernel variant the boots need builds;
//! 2. `unit tests`: `cargo test` on the workspace's default (host) members;
//! 3. `sel4-gen <variant>`: `cargo test -p sel4-gen` against each variant's
//!    kernel source and `.config` (it compares its generated labels with
//!    libsel4's own Python generators, hence the venv on `PATH`);
//! 4. `build <variant>`: root task image and `simulate` script;
//! 5. `boot <variant>-x<N>-<mem>[-ivshmem]`: QEMU boots with N nodes, that
//!    much memory and optionally the shared-buffer device, judged on the console
//!    (see [`crate::console`]); the time from QEMU start to the root task's
//!    first line is printed as a measurement, never a threshold;
//! 6. `capdl verify <boot>`: the capDL spec that the release-smp 4-node
//!    ivshmem boot printed passes every design rule, and `capdl rule <r>
//!    fires: …`: broken copies of it fail with the rule each breaks
//!    (see [`crate::capdl`]; no extra boot);
//! 7. `linux-vm …`: with no Linux VM the LWK's wait for it ends in a clear
//!    error within its timeout; the daemon serves forwarded file calls on
//!    the host; the Linux VM image boots in QEMU and serves the same calls
//!    over ivshmem and 9p, checked against the host's view of the share
//!    (see [`crate::linuxvm`]; needs no seL4 build); job launch with the
//!    daemon on the host and the LWK played by a host stand-in, then the
//!    same through the booted VM (see [`crate::vm_jobs`]);
//! 8. `capdl witness debug-x1-512M`: one debug boot in which the root task
//!    calls `seL4_DebugSnapshot`; the kernel's own view, walked over the
//!    serial line, must match the root task's spec;
//! 9. on release kernels: standalone jobs and programs, then (release-smp)
//!    jobs launched through the Linux VM: `vm-jobs`, `run` with the VM and
//!    `run` without it (see [`crate::vm_jobs`]); `bench --quick`, a smoke
//!    test of `cargo xtask bench` (its table and plots exist; no figure is
//!    judged).
//!
//! Every check runs even when an earlier one failed, except those that need
//! its output (no boot without a build). Boots are independent: each starts a
//! fresh QEMU from its variant's `simulate` script and writes its own log.

use std::fs;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::console::{self, RootTaskCheck};
use crate::layout::{self, Variant};
use crate::proc::{self, step};
use crate::qemu::Machine;
use crate::setup::{self, Toolchain};
use crate::{build, kernel};

/// One boot of the matrix: a kernel variant, QEMU's `-smp` and `-m`, and
/// whether an ivshmem device (the shared buffer) is plugged in.
#[derive(Clone, Copy)]
struct Boot {
    variant: Variant,
    nodes: u32,
    mem: &'static str,
    ivshmem: bool,
}

impl Boot {
    const fn new(variant: Variant, nodes: u32, mem: &'static str, ivshmem: bool) -> Self {
        Boot {
            variant,
            nodes,
            mem,
            ivshmem,
        }
    }

    /// The check name, also the log file's stem.
    fn name(self) -> String {
        format!(
            "{}-x{}-{}{}",
            self.variant,
            self.nodes,
            self.mem,
            if self.ivshmem { "-ivshmem" } else { "" }
        )
    }
}

use Variant::{Debug, DebugSmp, Release, ReleaseSmp};

/// Release and debug kernels; 1 node (uniprocessor kernel) and 4 nodes
/// (SMP kernel); 512 MiB and 2 GiB guests; with and without the ivshmem
/// device; plus 8 nodes on each SMP kernel.
const MATRIX: [Boot; 18] = [
    Boot::new(Release, 1, "512M", false),
    Boot::new(Release, 1, "512M", true),
    Boot::new(Release, 1, "2G", false),
    Boot::new(Release, 1, "2G", true),
    Boot::new(ReleaseSmp, 4, "512M", false),
    Boot::new(ReleaseSmp, 4, "512M", true),
    Boot::new(ReleaseSmp, 4, "2G", false),
    Boot::new(ReleaseSmp, 4, "2G", true),
    Boot::new(ReleaseSmp, 8, "512M", true),
    Boot::new(Debug, 1, "512M", false),
    Boot::new(Debug, 1, "512M", true),
    Boot::new(Debug, 1, "2G", false),
    Boot::new(Debug, 1, "2G", true),
    Boot::new(DebugSmp, 4, "512M", false),
    Boot::new(DebugSmp, 4, "512M", true),
    Boot::new(DebugSmp, 4, "2G", false),
    Boot::new(DebugSmp, 4, "2G", true),
    Boot::new(DebugSmp, 8, "512M", false),
];

/// `--quick`: one SMP release boot and one uniprocessor debug boot.
const QUICK: [Boot; 2] = [
    Boot::new(ReleaseSmp, 4, "512M", true),
    Boot::new(Debug, 1, "512M", false),
];

/// Options of `cargo xtask test`.
#[derive(clap::Args)]
pub struct Args {
    /// Boot only release-smp with 4 nodes and debug with 1 node (and build
    /// only those two variants).
    #[arg(long)]
    quick: bool,
    /// Seconds a boot may take to reach its verdict before it fails.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Skip the host unit tests (steps 2 and 3), e.g. while iterating on boots.
    #[arg(long)]
    skip_unit: bool,
    /// Only boot what target/lwk already holds: no unit tests, no builds
    /// (for trying hand-made images with the same console checks).
    #[arg(long, conflicts_with = "skip_unit")]
    boot_only: bool,
}

/// The results so far, printed as a table and the closing count.
#[derive(Default)]
struct Results(Vec<(String, Result<(), String>)>);

impl Results {
    /// Records a check and says how it went.
    fn record(&mut self, name: impl Into<String>, result: Result<(), String>) -> bool {
        let name = name.into();
        match &result {
            Ok(()) => step(format!("PASS {name}")),
            Err(why) => step(format!("FAIL {name}: {why}")),
        }
        let ok = result.is_ok();
        self.0.push((name, result));
        ok
    }

    fn passed(&self, name: &str) -> bool {
        self.0.iter().any(|(n, r)| n == name && r.is_ok())
    }

    /// Prints the table and the closing line; true if nothing failed.
    fn summarize(&self) -> bool {
        let failed = self.0.iter().filter(|(_, r)| r.is_err()).count();
        println!();
        for (name, result) in &self.0 {
            match result {
                Ok(()) => println!("  ok    {name}"),
                Err(why) => println!("  FAIL  {name}: {why}"),
            }
        }
        // CI reads this line: keep it exactly `N passed, N failed`, alone.
        println!("{} passed, {failed} failed", self.0.len() - failed);
        failed == 0
    }
}

/// Runs `cargo xtask test`; exits non-zero if any check failed.
pub fn run(args: &Args) -> Result<()> {
    let toolchain = setup::ensure()?;
    let boots: &[Boot] = if args.quick { &QUICK } else { &MATRIX };
    let mut variants: Vec<Variant> = Vec::new();
    for boot in boots {
        if !variants.contains(&boot.variant) {
            variants.push(boot.variant);
        }
    }
    let mut results = Results::default();
    if !args.boot_only {
        build_and_unit_test(args, &toolchain, &variants, &mut results);
    }

    let timeout = Duration::from_secs(args.timeout);
    linux_vm_checks(args, timeout, &mut results);
    for &boot in boots {
        let name = format!("boot {}", boot.name());
        let script = boot.variant.simulate_script();
        let ready = if args.boot_only {
            script.is_file()
        } else {
            results.passed(&format!("build {}", boot.variant))
        };
        if !ready {
            results.record(name, Err(format!("{} was not built", boot.variant)));
            continue;
        }
        let outcome = run_boot(boot, timeout);
        results.record(name, flatten(outcome));
    }

    // capDL: the spec printed by a boot made above, then broken copies of
    // it, each of which must fail with its rule (no extra boot).
    let capdl_boot = Boot::new(ReleaseSmp, 4, "512M", true).name();
    if boots.iter().any(|b| b.name() == capdl_boot) {
        let log = layout::logs_dir().join(format!("{capdl_boot}.log"));
        let name = format!("capdl verify {capdl_boot}");
        if results.passed(&format!("boot {capdl_boot}")) {
            let outcome = crate::capdl::verify_console_log(&log, &capdl_boot);
            results.record(name, flatten(outcome));
            for (check, outcome) in crate::capdl::broken_spec_checks(&log) {
                results.record(check, flatten(outcome));
            }
        } else {
            results.record(name, Err(format!("boot {capdl_boot} did not pass")));
        }
    }

    // The kernel's own view (debug kernel, uniprocessor: no foreign
    // program runs on it) against the root task's spec: one boot.
    if variants.contains(&Variant::Debug) {
        let name = "capdl witness debug-x1-512M (kernel dump vs spec)";
        if args.boot_only || results.passed("build debug") {
            let outcome = crate::capdl::witness_boot(Variant::Debug, Some(1), "512M", timeout * 3);
            results.record(name, flatten(outcome));
        } else {
            results.record(name, Err("debug was not built".into()));
        }
    }

    // Foreign programs run on release kernels only.
    for variant in [Variant::Release, Variant::ReleaseSmp] {
        if !variants.contains(&variant) {
            continue;
        }
        let name = format!("jobs {variant}");
        if !args.boot_only && !results.passed(&format!("build {variant}")) {
            results.record(name, Err(format!("{variant} was not built")));
            continue;
        }
        results.record(name, flatten(crate::jobs::standalone(variant, timeout)));
    }
    if variants.contains(&Variant::ReleaseSmp)
        && (args.boot_only || results.passed("build release-smp"))
    {
        let outcome = crate::run_tests::standalone_programs(Variant::ReleaseSmp);
        results.record(
            "programs release-smp (musl, glibc, busybox vs Linux)",
            flatten(outcome),
        );
        results.record(
            "threads release-smp (pthreads on 3 nodes, futexes; musl, glibc)",
            flatten(crate::run_tests::thread_programs(Variant::ReleaseSmp)),
        );
        results.record(
            "measurements release-smp (getpid rate, busybox load; printed, not checked)",
            flatten(crate::run_tests::measurements(Variant::ReleaseSmp)),
        );
        // Jobs launched through the Linux VM (one boot pair), then the
        // user command (two) and a run without the VM (seL4 alone).
        let lwk = crate::session::Lwk::Sel4 {
            variant: Variant::ReleaseSmp,
            nodes: 4,
            mem: "512M".into(),
        };
        results.record(
            "vm-jobs release-smp (busybox cat wc sha256sum ls cp mkdir rm head sort vs host tools, \
             64 MiB write+fsync+read back, exit status, daemon killed mid-job -> EIO, next job)",
            flatten(crate::vm_jobs::jobs(lwk)),
        );
        results.record(
            "run release-smp: `cargo xtask run -- busybox sha256sum FILE` = host digest; --batch status 42",
            flatten(crate::vm_jobs::cli(Variant::ReleaseSmp)),
        );
        results.record(
            "run release-smp without a Linux VM: clear error, no hang",
            flatten(crate::vm_jobs::no_linux_vm(Variant::ReleaseSmp)),
        );
        results.record(
            "bench --quick release-smp (LWK vs Linux VM: runs, writes its table and plots; no thresholds)",
            flatten(crate::bench::smoke(Variant::ReleaseSmp)),
        );
    }

    if !results.summarize() {
        std::process::exit(1);
    }
    Ok(())
}

/// Step 7: the Linux VM, which needs nothing of the seL4 side. Its boot
/// gets at least two minutes (a TCG Linux boot is ~3 s, more on a loaded
/// machine).
fn linux_vm_checks(args: &Args, timeout: Duration, results: &mut Results) {
    use crate::linuxvm;
    results.record(
        "linux-vm no VM: bounded wait, clear error",
        flatten(linuxvm::no_peer_test()),
    );
    if args.boot_only {
        return;
    }
    results.record(
        "linux-vm daemon on the host: forwarded file calls",
        flatten(linuxvm::host_test()),
    );
    let boot = timeout.max(Duration::from_secs(120));
    results.record(
        "linux-vm e2e: QEMU boot, forwarded file calls over ivshmem + 9p",
        flatten(linuxvm::vm_test(boot)),
    );
    results.record(
        "linux-vm launch on the host: daemon + LWK stand-in (relays, stdin, refusals, daemon restart)",
        flatten(linuxvm::host_launch_test()),
    );
    results.record(
        "linux-vm jobs: VM + LWK stand-in (launch port, program shares, relays, daemon restart)",
        flatten(crate::vm_jobs::jobs(crate::session::Lwk::StandIn)),
    );
}

/// Steps 1-4: kernels, host unit tests, seL4-side builds.
fn build_and_unit_test(
    args: &Args,
    toolchain: &Toolchain,
    variants: &[Variant],
    results: &mut Results,
) {
    for &variant in variants {
        let built = kernel::build(toolchain, variant, false).map(drop);
        results.record(format!("kernel {variant}"), flatten(built));
    }

    if !args.skip_unit {
        step("host unit tests: cargo test");
        results.record("unit tests", flatten(proc::run(proc::cargo().arg("test"))));
        for &variant in variants {
            if results.passed(&format!("kernel {variant}")) {
                let outcome = sel4_gen_tests(toolchain, variant);
                results.record(format!("sel4-gen {variant}"), flatten(outcome));
            }
        }
    }

    for &variant in variants {
        if results.passed(&format!("kernel {variant}")) {
            let built = build::build(toolchain, variant).map(drop);
            results.record(format!("build {variant}"), flatten(built));
        }
    }
}

/// `cargo test -p sel4-gen -p sel4` against one variant's kernel (the
/// bindings crate builds only against a kernel: its bootinfo and fault
/// decoders are tested here).
fn sel4_gen_tests(toolchain: &Toolchain, variant: Variant) -> Result<()> {
    step(format!("sel4-gen tests against {variant}"));
    let mut cmd = proc::cargo();
    cmd.args(["test", "-p", "sel4-gen", "-p", "sel4"])
        .env("SEL4_KERNEL_SRC", &toolchain.sel4_src)
        .env("SEL4_KERNEL_CONFIG", variant.dot_config())
        .env("PATH", toolchain.path_env()?);
    proc::run(&mut cmd)
}

/// Boots one matrix entry and judges its console.
fn run_boot(boot: Boot, timeout: Duration) -> Result<()> {
    let logs = layout::logs_dir();
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let log = logs.join(format!("{}.log", boot.name()));
    step(format!(
        "boot {}: QEMU with {} node(s), timeout {} s",
        boot.name(),
        boot.nodes,
        timeout.as_secs()
    ));
    let mut cmd = Command::new(boot.variant.simulate_script());
    cmd.args(["--smp", &boot.nodes.to_string(), "--mem-size", boot.mem]);
    let shm = if boot.ivshmem {
        Some(crate::linuxvm::ShmFile::fresh(&format!(
            "test-{}",
            boot.name()
        ))?)
    } else {
        None
    };
    if let Some(shm) = &shm {
        cmd.args(["--extra-qemu-args", &shm.qemu_args()]);
    }
    let mut machine = Machine::spawn(cmd)?;
    let mut check = RootTaskCheck::new(boot.nodes).with_personality(boot.ivshmem);
    let outcome = machine.watch(&log, timeout, console::FIRST_LINE, |line| check.line(line))?;
    drop(machine);

    let first = outcome.marker_after.map_or_else(
        || "never".to_string(),
        |t| format!("{:.2} s", t.as_secs_f64()),
    );
    step(format!(
        "boot {}: root task's first line after {first}, verdict after {:.2} s",
        boot.name(),
        outcome.elapsed.as_secs_f64()
    ));
    outcome
        .verdict
        .map_err(|why| anyhow::anyhow!("{why} (console log: {})", log.display()))
}

/// A check's error as one line: the error and its causes.
fn flatten(result: Result<()>) -> Result<(), String> {
    result.map_err(|e| format!("{e:#}"))
}
