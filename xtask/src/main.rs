//! `cargo xtask`: the one front door for building, running and testing the
//! LWK personality on seL4.
//!
//! Cargo alone cannot build this system: the seL4 kernel is a C/Make build
//! configured with Kconfig, the seL4-side Rust crates need target flags that
//! must never reach host crates, and the tests boot QEMU. Every such workflow
//! is a subcommand here, one module each, so `cargo xtask --help` lists them
//! all and each step has exactly one code path.
//!
//! | command    | what it does |
//! |------------|--------------|
//! | `setup`    | installs Debian packages, the Python venv, fetches the seL4 source |
//! | `kernel`   | builds seL4 kernel variants into `target/lwk/<variant>/kernel` |
//! | `build`    | setup + kernel + root task + the `simulate` script |
//! | `simulate` | build, then run the system in QEMU |
//! | `test`     | setup, host unit tests, all variants, a QEMU boot matrix |
//! | `linux-vm` | build, boot or end-to-end test the Linux VM (`build`, `boot`, `e2e`) |
//! | `capdl`    | `verify`: boot, capture the capDL spec, check the design rules |
//! | `bench`    | the LWK against Linux in one run: table and plots in `target/lwk/bench` |
//!
//! Outputs live under `target/lwk/` (see [`layout`]).

mod bench;
mod build;
mod capdl;
mod console;
mod jobs;
mod kernel;
mod layout;
mod linuxvm;
mod proc;
mod qemu;
mod run;
mod run_tests;
mod session;
mod setup;
mod simulate;
mod test;
mod vm_jobs;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Build, run and test the LWK personality on seL4 (x86_64 pc99, QEMU TCG).
#[derive(Parser)]
#[command(name = "xtask", bin_name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check and install what the project needs: Debian packages, a Python
    /// venv in target/lwk/venv, the seL4 5.0.0 source (crate sel4-sys =0.0.28).
    Setup(setup::Args),
    /// Build seL4 kernel variants into target/lwk/VARIANT/kernel (all four
    /// by default); skipped when the configuration inputs are unchanged.
    Kernel(kernel::Args),
    /// Build one variant: kernel, root task image and the `simulate` script
    /// in target/lwk/VARIANT/.
    Build(build::Args),
    /// Build one variant, then run its `simulate` script (QEMU).
    Simulate(simulate::Args),
    /// Run a static Linux program on the LWK: its output on stdout/stderr,
    /// our stdin to it, its exit status as ours (128+N for signal N).
    Run(run::Args),
    /// The Linux VM that serves the LWK's I/O: build its image, boot it,
    /// or run the end-to-end check of forwarded file calls.
    LinuxVm(linuxvm::Args),
    /// The project's test suite (used by CI): host unit tests, every kernel
    /// variant, and a matrix of QEMU boots checked on the console.
    Test(test::Args),
    /// capDL: `verify` boots the system (or reads --spec FILE), captures
    /// the spec the root task prints and checks the design rules.
    Capdl(capdl::Args),
    /// Benchmarks: the same static programs on the LWK and in a Linux VM
    /// on the same QEMU model; table and SVG plots in target/lwk/bench.
    Bench(bench::Args),
}

/// Reports errors as their chain of causes, without a backtrace of this
/// tool (`RUST_BACKTRACE` is often set for the crates we build, and a trace
/// through xtask helps nobody).
fn main() -> ExitCode {
    let command = Cli::parse().command;
    if let Command::Run(args) = &command {
        // The program's status is ours.
        return match run::run(args) {
            Ok(status) => ExitCode::from(status.clamp(0, 255) as u8),
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::from(125)
            }
        };
    }
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Setup(args) => setup::run(&args).map(drop),
        Command::Kernel(args) => kernel::run(&args),
        Command::Build(args) => build::run(&args).map(drop),
        Command::Simulate(args) => simulate::run(&args),
        Command::Test(args) => test::run(&args),
        Command::LinuxVm(args) => linuxvm::run(&args),
        Command::Capdl(args) => capdl::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Run(_) => unreachable!("handled in main"),
    }
}
