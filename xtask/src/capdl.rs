//! `cargo xtask capdl`: checks the capDL spec the root task prints at boot.
//!
//! `capdl verify` boots the real system (or reads `--spec FILE`), takes the
//! text between the console lines `CAPDL-BEGIN objects=<N>` and `CAPDL-END`,
//! parses it with the `capdl` crate, runs every design rule and prints each
//! violation in plain words. It fails on any violation, on a parse error, on
//! a missing or truncated spec, on `CAPDL-ERROR`, and on a boot that does
//! not get that far in time. Whatever it read is written to
//! `target/lwk/capdl/<name>.cdl`, with the graph as `<name>.dot` and, when
//! Graphviz's `dot` is installed, `<name>.svg`.
//!
//! The test suite reuses a boot it already makes ([`verify_console_log`])
//! and feeds deliberately broken copies of the real spec
//! ([`broken_spec_checks`]) to the same checker that `--spec` uses.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use capdl::rules::{self, Rule};
use capdl::{Cap, FrameSize, ObjectKind, Rights, RuleConfig, Spec, TcbAttrs};

mod bitfield;
mod witness;

use crate::layout::{self, Variant};
use crate::proc::step;
use crate::qemu::{Check, Machine};
use crate::setup;

/// The line that opens the spec on the console (followed by `objects=<N>`).
pub const BEGIN: &str = "CAPDL-BEGIN";
/// The line that closes it.
pub const END: &str = "CAPDL-END";
/// What the root task prints instead when it could not build the spec.
pub const ERROR: &str = "CAPDL-ERROR";

/// `cargo xtask capdl …`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CapdlCommand,
}

#[derive(clap::Subcommand)]
enum CapdlCommand {
    /// Boot the system (or read --spec FILE), capture its capDL spec, check
    /// every design rule; exit non-zero on any violation or error.
    Verify(VerifyArgs),
    /// On a debug kernel: boot, let the root task call seL4_DebugSnapshot,
    /// walk the kernel's own view over the serial line and compare it with
    /// the root task's spec; exit non-zero on any difference.
    Witness(WitnessArgs),
}

/// Options of `cargo xtask capdl witness`.
#[derive(clap::Args)]
pub struct WitnessArgs {
    /// Debug kernel variant to build and boot.
    #[arg(long, short, value_enum, default_value_t = Variant::Debug)]
    variant: Variant,
    /// Nodes (QEMU -smp); the variant's default when not given.
    #[arg(long, short)]
    nodes: Option<u32>,
    /// Guest memory (QEMU -m).
    #[arg(long, short, default_value = "512M")]
    mem: String,
    /// Seconds for the boot and the whole walk.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
}

/// Options of `cargo xtask capdl verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Kernel variant to build and boot.
    #[arg(long, short, value_enum, default_value_t = Variant::ReleaseSmp)]
    variant: Variant,
    /// Nodes (QEMU -smp); the variant's default when not given.
    #[arg(long, short)]
    nodes: Option<u32>,
    /// Guest memory (QEMU -m).
    #[arg(long, short, default_value = "512M")]
    mem: String,
    /// Boot without the ivshmem device (no shared buffer in the spec).
    #[arg(long)]
    no_ivshmem: bool,
    /// Seconds the boot may take to print the whole spec.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Check this file instead of booting (no build, no QEMU): a bare spec,
    /// or a console log with the spec between its markers.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
}

/// Runs `cargo xtask capdl …`.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        CapdlCommand::Verify(v) => verify(v),
        CapdlCommand::Witness(w) => {
            let toolchain = setup::ensure()?;
            crate::build::build(&toolchain, w.variant)?;
            witness_boot(w.variant, w.nodes, &w.mem, Duration::from_secs(w.timeout))
        }
    }
}

/// For `capdl witness` and `cargo xtask test`: boots a built debug variant
/// and compares the kernel's own view with the root task's spec.
pub fn witness_boot(
    variant: Variant,
    nodes: Option<u32>,
    mem: &str,
    timeout: Duration,
) -> Result<()> {
    let nodes = nodes.unwrap_or(variant.default_nodes());
    let logs = layout::logs_dir();
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let log = logs.join(format!("capdl-witness-{variant}-x{nodes}-{mem}.log"));
    witness::witness(variant, nodes, mem, timeout, &log, &out_dir())
}

fn verify(args: &VerifyArgs) -> Result<()> {
    if let Some(file) = &args.spec {
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let stem = file
            .file_stem()
            .map_or("spec".into(), |s| s.to_string_lossy().into_owned());
        // A console log (the markers in it) or a bare spec.
        if text.lines().any(|l| l.contains(BEGIN)) {
            let (spec, declared) = Capture::from_log(&text).finish()?;
            return verify_text(&spec, declared, &stem).map(drop);
        }
        return verify_text(&text, None, &stem).map(drop);
    }
    let toolchain = setup::ensure()?;
    let script = crate::build::build(&toolchain, args.variant)?;
    let nodes = args.nodes.unwrap_or(args.variant.default_nodes());
    let stem = format!(
        "{}-x{nodes}-{}{}",
        args.variant,
        args.mem,
        if args.no_ivshmem { "" } else { "-ivshmem" }
    );
    let logs = layout::logs_dir();
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let log = logs.join(format!("capdl-{stem}.log"));
    step(format!(
        "capdl verify: booting {stem}, timeout {} s, console in {}",
        args.timeout,
        log.display()
    ));
    let mut cmd = Command::new(script);
    cmd.args(["--smp", &nodes.to_string(), "--mem-size", &args.mem]);
    let shm = if args.no_ivshmem {
        None
    } else {
        Some(crate::linuxvm::ShmFile::fresh(&format!("capdl-{stem}"))?)
    };
    if let Some(shm) = &shm {
        cmd.args(["--extra-qemu-args", &shm.qemu_args()]);
    }
    let mut machine = Machine::spawn(cmd)?;
    let mut capture = Capture::default();
    let outcome = machine.watch(
        &log,
        Duration::from_secs(args.timeout),
        crate::console::FIRST_LINE,
        |line| capture.line(line),
    )?;
    drop(machine);
    if let Err(why) = outcome.verdict {
        bail!(
            "the boot did not deliver a complete spec: {why} (console log: {})",
            log.display()
        );
    }
    let (text, declared) = capture.finish()?;
    verify_text(&text, declared, &stem).map(drop)
}

/// Collects the spec from console lines as they come.
#[derive(Default)]
pub struct Capture {
    /// `objects=<N>` of the begin line, once seen.
    declared: Option<Option<usize>>,
    lines: Vec<String>,
    ended: bool,
    error: Option<String>,
    failure: Option<String>,
}

impl Capture {
    /// Takes one console line; says [`Check::Pass`] at `CAPDL-END` and
    /// fails on `CAPDL-ERROR`, a root-task failure or a panic.
    pub fn line(&mut self, line: &str) -> Check {
        if let Some(at) = line.find(ERROR) {
            let why = line[at..].trim().to_string();
            self.error = Some(why.clone());
            return Check::Fail(format!("the root task could not build its spec: {why}"));
        }
        for stop in ["ROOT-TASK-FAIL", "PANIC:"] {
            if let Some(at) = line.find(stop) {
                let why = line[at..].trim().to_string();
                self.failure = Some(why.clone());
                return Check::Fail(why);
            }
        }
        if self.ended {
            return Check::Pass;
        }
        if let Some(at) = line.find(BEGIN) {
            let count = line[at + BEGIN.len()..]
                .split_whitespace()
                .find_map(|w| w.strip_prefix("objects="))
                .and_then(|n| n.parse().ok());
            self.declared = Some(count);
            self.lines.clear();
            return Check::Continue;
        }
        if self.declared.is_none() {
            return Check::Continue;
        }
        if line.trim() == END || line.trim_end().ends_with(END) {
            self.ended = true;
            return Check::Pass;
        }
        self.lines.push(line.to_string());
        Check::Continue
    }

    /// Reads a whole console log.
    pub fn from_log(text: &str) -> Capture {
        let mut capture = Capture::default();
        for line in text.lines() {
            if capture.line(line) != Check::Continue {
                break;
            }
        }
        capture
    }

    /// The spec text and the object count its begin line declared, or why
    /// there is none.
    pub fn finish(self) -> Result<(String, Option<usize>)> {
        if let Some(why) = self.error {
            bail!("the root task could not build its spec: {why}");
        }
        let Some(declared) = self.declared else {
            match self.failure {
                Some(why) => bail!("the boot failed before the spec: {why}"),
                None => bail!("no `{BEGIN}` line on the console: the root task printed no spec"),
            }
        };
        if !self.ended {
            bail!(
                "the spec is truncated: `{BEGIN}` came, then {} line(s), but no `{END}`",
                self.lines.len()
            );
        }
        let mut text = self.lines.join("\n");
        text.push('\n');
        Ok((text, declared))
    }
}

/// The result of checking one spec.
pub struct Verified {
    /// The parsed spec.
    pub spec: Spec,
    /// The rule violations (empty when all rules hold).
    pub violations: Vec<capdl::RuleViolation>,
}

/// Where `verify` writes its outputs: `target/lwk/capdl`.
pub fn out_dir() -> PathBuf {
    layout::lwk_dir().join("capdl")
}

/// Parses `text`, checks the object count the begin line declared (if
/// any), runs every rule, prints the report, and writes `<stem>.cdl`,
/// `<stem>.dot` and (with Graphviz) `<stem>.svg` under [`out_dir`]. Fails
/// on a parse error, a wrong count or any violation.
pub fn verify_text(text: &str, declared: Option<usize>, stem: &str) -> Result<Verified> {
    let checked = check_text(text, declared);
    // Write what was read even when it does not parse: it is the evidence.
    let dir = out_dir();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cdl = dir.join(format!("{stem}.cdl"));
    fs::write(&cdl, text).with_context(|| format!("cannot write {}", cdl.display()))?;
    let verified = checked.with_context(|| format!("spec written to {}", cdl.display()))?;
    let dot = dir.join(format!("{stem}.dot"));
    fs::write(&dot, capdl::dot::render(&verified.spec))
        .with_context(|| format!("cannot write {}", dot.display()))?;
    let svg = render_svg(&dot)?;
    println!(
        "capdl verify: {} objects; spec {}, graph {}{}",
        verified.spec.objects().len(),
        cdl.display(),
        dot.display(),
        svg.map_or_else(
            || " (no SVG: Graphviz `dot` is not installed)".to_string(),
            |s| format!(", {}", s.display())
        )
    );
    let report = rules::report(&verified.spec, &RuleConfig::default());
    print!("{report}");
    if !verified.violations.is_empty() {
        bail!(
            "{} design-rule violation(s) in {}",
            verified.violations.len(),
            cdl.display()
        );
    }
    Ok(verified)
}

/// Parse, count and rules, without touching the file system. Violations are
/// returned, not raised: the caller decides.
pub fn check_text(text: &str, declared: Option<usize>) -> Result<Verified> {
    let spec = capdl::parse(text).map_err(|e| anyhow!("the spec does not parse: {e}"))?;
    if let Some(n) = declared {
        if n != spec.objects().len() {
            bail!(
                "the root task announced {n} objects but the spec declares {}: lines were lost",
                spec.objects().len()
            );
        }
    }
    let violations = rules::check_all(&spec, &RuleConfig::default());
    Ok(Verified { spec, violations })
}

/// Runs `dot -Tsvg` when Graphviz is installed; `None` when it is not.
fn render_svg(dot: &Path) -> Result<Option<PathBuf>> {
    let svg = dot.with_extension("svg");
    let out = Command::new("dot")
        .arg("-Tsvg")
        .arg(dot)
        .arg("-o")
        .arg(&svg)
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("cannot run `dot`"),
        Ok(out) if out.status.success() => Ok(Some(svg)),
        Ok(out) => bail!(
            "`dot -Tsvg {}` failed ({}): {}",
            dot.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// For `cargo xtask test`: verifies the spec in a console log a test boot
/// already wrote.
pub fn verify_console_log(log: &Path, stem: &str) -> Result<()> {
    let text = fs::read_to_string(log).with_context(|| format!("cannot read {}", log.display()))?;
    let (spec, declared) = Capture::from_log(&text)
        .finish()
        .with_context(|| format!("console log {}", log.display()))?;
    verify_text(&spec, declared, stem).map(drop)
}

/// One deliberately broken spec: its name, the rule that must fire, and
/// how to break a spec that passes.
struct Breakage {
    name: &'static str,
    rule: Rule,
    apply: fn(&mut Spec, &Apps) -> Result<()>,
}

/// The applications added to the real spec before breaking it (the root
/// task's spec has none: the personality starts them later, per job).
struct Apps {
    /// `(app TCB, its handler's key)`, one per handler of the real spec.
    apps: Vec<(String, String)>,
    /// A pool frame each application maps (`pool_…`), by app.
    frames: Vec<String>,
    /// A frame of the shared buffer.
    ivshmem: String,
}

fn model(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

/// Where an application maps its pool frame: 1 GiB, one PD entry.
const APP_FRAME_VADDR: u64 = 0x4000_0000;

/// Adds, per handler `handler_<k>` of `spec`, an application `app_<k>`
/// that passes every rule: its own CNode holding only its badged fault
/// endpoint, its own VSpace with one pool frame mapped, pinned to its
/// handler's core; the handler's CSpace (the personality's CNode) holds
/// the endpoint.
fn add_apps(spec: &mut Spec) -> Result<Apps> {
    let handlers: Vec<(String, String, Option<u32>)> = spec
        .threads()
        .iter()
        .filter(|t| t.role == Some(capdl::Role::Handler))
        .filter_map(|t| {
            let affinity = match spec.kind(t.name) {
                Some(ObjectKind::Tcb(a)) => a.affinity,
                _ => None,
            };
            Some((t.name.to_string(), t.key?.to_string(), affinity))
        })
        .collect();
    if handlers.is_empty() {
        bail!("the spec has no handler thread to serve an application");
    }
    let pool: Vec<String> = spec
        .objects()
        .iter()
        .filter(|o| o.name.starts_with("pool_") && o.kind.frame_size() == Some(FrameSize::Large))
        .take(handlers.len())
        .map(|o| o.name.clone())
        .collect();
    if pool.len() < handlers.len() {
        bail!("the spec has too few 2 MiB pool frames to give each application one");
    }
    let ivshmem = match spec
        .objects()
        .iter()
        .find(|o| o.name.starts_with("ivshmem_"))
    {
        Some(o) => o.name.clone(),
        None => {
            let kind = ObjectKind::Frame {
                size: FrameSize::Large,
                paddr: Some(0xfd00_0000),
            };
            spec.add_object("ivshmem_test", kind).map_err(model)?;
            "ivshmem_test".into()
        }
    };
    let handler_cnode = spec
        .cspace_of(&handlers[0].0)
        .context("the handler has no CSpace")?
        .to_string();
    let cnode_bits = match spec.kind(&handler_cnode) {
        Some(ObjectKind::CNode { size_bits }) => u32::from(*size_bits),
        _ => bail!("`{handler_cnode}` is not a CNode"),
    };
    let mut free: Vec<u64> = (0..1u64 << cnode_bits)
        .filter(|&s| spec.cap(&handler_cnode, s).is_none())
        .collect();
    let mut apps = Vec::new();
    for ((_, key, affinity), frame) in handlers.iter().zip(&pool) {
        let app = format!("app_{key}");
        let attrs = TcbAttrs {
            affinity: *affinity,
            fault_ep: Some(1),
            ..TcbAttrs::default()
        };
        spec.add_object(&app, ObjectKind::Tcb(attrs))
            .map_err(model)?;
        let (cnode, pml4, pdpt, pd, ep) = (
            format!("{app}_cnode"),
            format!("{app}_pml4"),
            format!("{app}_pdpt"),
            format!("{app}_pd"),
            format!("{app}_fault_ep"),
        );
        spec.add_object(&cnode, ObjectKind::CNode { size_bits: 4 })
            .map_err(model)?;
        for (name, kind) in [
            (&pml4, ObjectKind::Pml4),
            (&pdpt, ObjectKind::Pdpt),
            (&pd, ObjectKind::Pd),
            (&ep, ObjectKind::Endpoint),
        ] {
            spec.add_object(name, kind).map_err(model)?;
        }
        spec.insert_cap(
            &app,
            capdl::tcb_slot::CSPACE,
            Cap::new(&cnode).with_guard(0, 60),
        )
        .map_err(model)?;
        spec.insert_cap(&app, capdl::tcb_slot::VSPACE, Cap::new(&pml4))
            .map_err(model)?;
        let badge = key.parse::<u64>().unwrap_or(0) + 1;
        spec.insert_cap(
            &cnode,
            1,
            Cap::new(&ep).with_rights(Rights::W).with_badge(badge),
        )
        .map_err(model)?;
        let slot = free.pop().context("the handler's CNode is full")?;
        spec.insert_cap(&handler_cnode, slot, Cap::new(&ep).with_rights(Rights::RWG))
            .map_err(model)?;
        spec.map(&pml4, 0, &pdpt, Rights::NONE).map_err(model)?;
        spec.map(&pml4, APP_FRAME_VADDR, &pd, Rights::NONE)
            .map_err(model)?;
        spec.map(&pml4, APP_FRAME_VADDR, frame, Rights::RW)
            .map_err(model)?;
        apps.push((app, key.clone()));
    }
    Ok(Apps {
        apps,
        frames: pool,
        ivshmem,
    })
}

/// The broken specs the test suite feeds the checker, each starting from
/// the real spec plus well-formed applications ([`add_apps`]).
const BREAKAGES: &[Breakage] = &[
    Breakage {
        name: "an application holds a cap to a personality thread",
        rule: Rule::AppHoldsNoCaps,
        apply: |spec, apps| {
            let app = &apps.apps[0].0;
            let pers = spec
                .threads()
                .iter()
                .find(|t| t.role == Some(capdl::Role::Personality))
                .map(|t| t.name.to_string())
                .context("no personality thread")?;
            spec.insert_cap(&format!("{app}_cnode"), 2, Cap::new(pers))
                .map_err(model)
        },
    },
    Breakage {
        name: "an application's frame is mapped in another VSpace",
        rule: Rule::AppFramesPrivate,
        apply: |spec, apps| {
            // In the second application's VSpace if there is one, else in a
            // VSpace no thread uses.
            let frame = &apps.frames[0];
            let other = match apps.apps.get(1) {
                Some((app, _)) => format!("{app}_pml4"),
                None => {
                    spec.add_object("stray_pml4", ObjectKind::Pml4)
                        .map_err(model)?;
                    spec.add_object("stray_pdpt", ObjectKind::Pdpt)
                        .map_err(model)?;
                    spec.add_object("stray_pd", ObjectKind::Pd).map_err(model)?;
                    spec.map("stray_pml4", 0, "stray_pdpt", Rights::NONE)
                        .map_err(model)?;
                    spec.map("stray_pml4", APP_FRAME_VADDR, "stray_pd", Rights::NONE)
                        .map_err(model)?;
                    "stray_pml4".to_string()
                }
            };
            spec.map(&other, APP_FRAME_VADDR + (2 << 20), frame, Rights::R)
                .map_err(model)
        },
    },
    Breakage {
        name: "an application maps the shared buffer",
        rule: Rule::SharedBuffer,
        apply: |spec, apps| {
            let pml4 = format!("{}_pml4", apps.apps[0].0);
            spec.map(
                &pml4,
                APP_FRAME_VADDR + (4 << 20),
                &apps.ivshmem,
                Rights::RW,
            )
            .map_err(model)
        },
    },
    Breakage {
        name: "an application's fault endpoint is held by another application",
        rule: Rule::FaultEp,
        apply: |spec, apps| {
            let (app, _) = &apps.apps[0];
            let holder = match apps.apps.get(1) {
                Some((other, _)) => format!("{other}_cnode"),
                None => {
                    spec.add_object("stray_cnode", ObjectKind::CNode { size_bits: 2 })
                        .map_err(model)?;
                    "stray_cnode".into()
                }
            };
            let ep = format!("{app}_fault_ep");
            spec.insert_cap(&holder, 3, Cap::new(ep).with_rights(Rights::W))
                .map_err(model)
        },
    },
    Breakage {
        name: "a handler runs on another core than its application",
        rule: Rule::HandlerCore,
        apply: |spec, apps| {
            let app = &apps.apps[0].0;
            let attrs = spec.tcb_attrs_mut(app).context("no application TCB")?;
            attrs.affinity = Some(attrs.affinity.map_or(1, |a| a + 1));
            Ok(())
        },
    },
    Breakage {
        name: "the pool is mostly 4 KiB frames",
        rule: Rule::LargeFrames,
        apply: |spec, _| {
            let bytes: u64 = spec
                .objects()
                .iter()
                .filter(|o| o.name.starts_with("pool_"))
                .filter_map(|o| o.kind.frame_size())
                .map(FrameSize::bytes)
                .sum();
            // As many bytes again in 4 KiB frames: 50 % large.
            for i in 0..bytes / FrameSize::Small.bytes() {
                let kind = ObjectKind::Frame {
                    size: FrameSize::Small,
                    paddr: None,
                };
                spec.add_object(format!("pool_small_{i}"), kind)
                    .map_err(model)?;
            }
            Ok(())
        },
    },
    Breakage {
        name: "a thread whose name says no role",
        rule: Rule::Roles,
        apply: |spec, _| {
            spec.add_object("worker", ObjectKind::Tcb(TcbAttrs::default()))
                .map_err(model)
        },
    },
];

/// For `cargo xtask test`: from the spec in a test boot's console log,
/// checks that the spec with well-formed applications added still passes,
/// then that each [`BREAKAGES`] entry, printed to
/// `target/lwk/capdl/broken/<n>.cdl` and read back as `--spec` would, fails
/// with its rule. One result per check, named for the test table.
pub fn broken_spec_checks(log: &Path) -> Vec<(String, Result<()>)> {
    let console = fs::read_to_string(log).with_context(|| format!("cannot read {}", log.display()));
    broken_spec_checks_in(console, &out_dir().join("broken"))
}

/// [`broken_spec_checks`] on a console text, writing the broken specs to `dir`.
fn broken_spec_checks_in(console: Result<String>, dir: &Path) -> Vec<(String, Result<()>)> {
    let base = (|| -> Result<(Spec, Apps)> {
        let (text, _) = Capture::from_log(&console?).finish()?;
        let mut spec = capdl::parse(&text).map_err(|e| anyhow!("the spec does not parse: {e}"))?;
        let apps = add_apps(&mut spec)?;
        let violations = rules::check_all(&spec, &RuleConfig::default());
        if !violations.is_empty() {
            let list: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
            bail!(
                "the real spec with well-formed applications added already fails: {}",
                list.join("; ")
            );
        }
        Ok((spec, apps))
    })();
    let mut out = vec![(
        "capdl rules pass with applications added".to_string(),
        base.as_ref().map(drop).map_err(|e| anyhow!("{e:#}")),
    )];
    let Ok((spec, apps)) = base else {
        return out;
    };
    for (i, b) in BREAKAGES.iter().enumerate() {
        let name = format!("capdl rule {} fires: {}", b.rule, b.name);
        let result = (|| -> Result<()> {
            let mut broken = spec.clone();
            (b.apply)(&mut broken, &apps)?;
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let file = dir.join(format!("{i}-{}.cdl", b.rule));
            fs::write(&file, capdl::print(&broken))
                .with_context(|| format!("cannot write {}", file.display()))?;
            let text = fs::read_to_string(&file)?;
            let checked = check_text(&text, None)?;
            let fired: Vec<&capdl::RuleViolation> = checked
                .violations
                .iter()
                .filter(|v| v.rule == b.rule)
                .collect();
            if fired.is_empty() {
                let all: Vec<String> = checked.violations.iter().map(|v| v.to_string()).collect();
                bail!(
                    "{} passed rule {} (other violations: {})",
                    file.display(),
                    b.rule,
                    if all.is_empty() {
                        "none".into()
                    } else {
                        all.join("; ")
                    }
                );
            }
            step(format!("{}: {}", file.display(), fired[0]));
            Ok(())
        })();
        out.push((name, result));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "LWK root task: ...\n\
        CAPDL-BEGIN objects=2\n\
        arch x86_64\n\
        objects {\n    pers_control = tcb (affinity: 0)\n    pers_cnode = cnode (4 bits)\n}\n\
        caps {\n    pers_control { cspace: pers_cnode (guard: 0, guard_size: 60) }\n}\n\
        CAPDL-END\n\
        ROOT-TASK-OK nodes=1\n";

    #[test]
    fn captures_between_markers() {
        let (text, declared) = Capture::from_log(CONSOLE).finish().unwrap();
        assert_eq!(declared, Some(2));
        assert!(text.starts_with("arch x86_64\n"));
        assert!(text.ends_with("}\n"));
        let checked = check_text(&text, declared).unwrap();
        assert_eq!(checked.spec.objects().len(), 2);
        // No pool frames: only the large-frames rule has something to say.
        assert!(checked
            .violations
            .iter()
            .all(|v| v.rule == Rule::LargeFrames));
    }

    #[test]
    fn missing_truncated_and_error_specs_fail_clearly() {
        let none = Capture::from_log("LWK root task\nROOT-TASK-OK nodes=1\n").finish();
        assert!(none.unwrap_err().to_string().contains("no `CAPDL-BEGIN`"));
        let cut = CONSOLE.split("CAPDL-END").next().unwrap();
        let err = Capture::from_log(cut).finish().unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let err = Capture::from_log("CAPDL-ERROR capDL spec: no object at slot 7\n")
            .finish()
            .unwrap_err()
            .to_string();
        assert!(err.contains("no object at slot 7"), "{err}");
        let failed = Capture::from_log("ROOT-TASK-FAIL out of memory\n").finish();
        assert!(failed.unwrap_err().to_string().contains("out of memory"));
    }

    /// A console with a spec shaped like the root task's: the personality
    /// (control thread, two handlers on cores 1 and 2, one CNode and VSpace),
    /// pool frames and a shared-buffer frame, no applications.
    fn real_like_console() -> String {
        let mut objects = String::from(
            "    pers_control = tcb (affinity: 0)\n\
             handler_1 = tcb (affinity: 1)\n\
             handler_2 = tcb (affinity: 2)\n\
             pers_cnode = cnode (10 bits)\n\
             pers_pml4 = pml4\n\
             ivshmem_9 = frame (2M, paddr: 0xfd000000)\n",
        );
        let mut caps = String::from("    pers_cnode {\n        9: ivshmem_9 (RW)\n");
        for i in 0..4 {
            objects += &format!("    pool_{i} = frame (2M, paddr: {:#x})\n", (i + 8) << 21);
            caps += &format!("        {}: pool_{i} (RW)\n", 16 + i);
        }
        caps += "    }\n";
        for t in ["pers_control", "handler_1", "handler_2"] {
            caps += &format!(
                "    {t} {{ cspace: pers_cnode (guard: 0, guard_size: 54)\n vspace: pers_pml4 }}\n"
            );
        }
        format!("CAPDL-BEGIN objects=10\narch x86_64\nobjects {{\n{objects}}}\ncaps {{\n{caps}}}\nCAPDL-END\n")
    }

    #[test]
    fn every_breakage_fires_its_rule() {
        let dir = std::env::temp_dir().join(format!("xtask-capdl-broken-{}", std::process::id()));
        let console = real_like_console();
        let (text, declared) = Capture::from_log(&console).finish().unwrap();
        let checked = check_text(&text, declared).unwrap();
        assert_eq!(checked.violations, vec![]);
        let results = broken_spec_checks_in(Ok(console), &dir);
        assert_eq!(results.len(), BREAKAGES.len() + 1);
        for (name, result) in &results {
            assert!(result.is_ok(), "{name}: {:#}", result.as_ref().unwrap_err());
        }
        assert_eq!(fs::read_dir(&dir).unwrap().count(), BREAKAGES.len());
        fs::remove_dir_all(dir).unwrap();
        // Without a spec, the first check says why and nothing else runs.
        let none = broken_spec_checks_in(
            Ok("ROOT-TASK-OK nodes=1\n".into()),
            Path::new("/nonexistent"),
        );
        assert_eq!(none.len(), 1);
        assert!(none[0].1.is_err());
    }

    #[test]
    fn parse_errors_and_lost_lines_are_reported() {
        let (text, _) = Capture::from_log(CONSOLE).finish().unwrap();
        let err = check_text(&text, Some(3)).err().unwrap().to_string();
        assert!(err.contains("announced 3 objects"), "{err}");
        let broken = text.replace("cnode (4 bits)", "cnode (4 bits");
        let err = check_text(&broken, None).err().unwrap().to_string();
        assert!(err.contains("line 5, column 1"), "{err}");
    }
}
