//! `cargo xtask linux-vm`: the Linux VM that serves the LWK's I/O.
//!
//! - `build`: the image (see [`image`]): Debian's kernel, decompressed, and
//!   an initramfs with busybox, the 9p/virtio modules, our daemon and init;
//! - `boot`: boots it in QEMU (TCG) with the shared region and a host
//!   directory, prints the console and the time to `LINUX-VM-READY`;
//! - `e2e`: boots it and acts as the LWK from this host process: formats
//!   the region and forwards file calls through the `channel` crate,
//!   checking the results against the host's view of the share.
//!
//! The shared region is a 16 MiB file under `/dev/shm` (the size of
//! `channel::wire::REGION_SIZE`), plugged into QEMU as
//! `memory-backend-file,share=on` + `ivshmem-plain`, the same way the seL4
//! machine gets its device (`cargo xtask test`'s ivshmem boots); give both
//! machines the same file with `--shm` to connect them.

pub(crate) mod cpio;
mod e2e;
mod elf;
pub mod image;
pub mod launch;
mod launch_e2e;
pub mod standin;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::layout;
use crate::proc::step;
use crate::qemu::{Check, Machine};

pub use e2e::{host_test, no_peer_test, vm_test};
pub use launch_e2e::host_launch_test;

/// The console line the daemon prints once it has mapped the region.
pub const READY: &str = "LINUX-VM-READY";
/// Lines that end a boot as failed.
const FAIL: &str = "LINUX-VM-FAIL";
/// Guest memory: the kernel, a 3 MiB initramfs and the daemon fit easily.
pub const MEM: &str = "256M";
/// The kernel command line: serial console, our init, reboot (and so quit,
/// with `-no-reboot`) on panic, errors only.
pub const CMDLINE: &str = "console=ttyS0 rdinit=/init panic=-1 quiet";

/// Options of `cargo xtask linux-vm`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Build the image into target/lwk/linux-vm/image (cached).
    Build,
    /// Boot the image in QEMU and print its console.
    Boot(BootArgs),
    /// Boot the image and forward file calls to it from this process (as
    /// the LWK would), checking them against the host.
    E2e {
        /// Seconds the boot may take to reach LINUX-VM-READY.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Run the daemon natively on this host instead of in the VM (no
        /// QEMU; checks the daemon and the channel in seconds).
        #[arg(long)]
        host: bool,
    },
    /// Jobs through the Linux VM in QEMU (the suite `cargo xtask test`
    /// runs): busybox tools against the host's, a 64 MiB file, exit
    /// statuses, the daemon killed mid-job; `--cli` also the user command
    /// (`run -- busybox sha256sum`, `--batch`) and a run without a VM.
    Jobs {
        /// The LWK is the host stand-in (no seL4).
        #[arg(long)]
        stand_in: bool,
        /// Also check `cargo xtask run` itself (three more boots).
        #[arg(long, conflicts_with = "stand_in")]
        cli: bool,
        /// Kernel variant (release kernels only).
        #[arg(long, short, value_enum, default_value_t = crate::layout::Variant::ReleaseSmp)]
        variant: crate::layout::Variant,
    },
}

#[derive(clap::Args)]
struct BootArgs {
    /// Host directory served to the VM over 9p (default: the current one).
    #[arg(long)]
    share: Option<PathBuf>,
    /// The shared-region file (created with 16 MiB if missing, kept);
    /// default: a fresh /dev/shm/lwk-linux-vm-<pid>, removed at exit.
    #[arg(long)]
    shm: Option<PathBuf>,
    /// Stop once the daemon is ready (a boot check) instead of running on.
    #[arg(long)]
    until_ready: bool,
    /// Seconds before QEMU is stopped.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    /// The daemon traces every call on the console.
    #[arg(long)]
    trace: bool,
}

/// Runs `cargo xtask linux-vm ...`.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        Sub::Build => image::build().map(drop),
        Sub::Boot(boot) => run_boot(boot),
        Sub::Jobs {
            stand_in,
            cli,
            variant,
        } => {
            if *stand_in {
                return crate::vm_jobs::jobs(crate::session::Lwk::StandIn);
            }
            anyhow::ensure!(
                !variant.is_debug(),
                "foreign programs never run on a debug kernel"
            );
            let toolchain = crate::setup::ensure()?;
            crate::build::build(&toolchain, *variant)?;
            crate::vm_jobs::jobs(crate::session::Lwk::Sel4 {
                variant: *variant,
                nodes: 4,
                mem: "512M".into(),
            })?;
            if *cli {
                crate::vm_jobs::cli(*variant)?;
                crate::vm_jobs::no_linux_vm(*variant)?;
            }
            Ok(())
        }
        Sub::E2e { timeout, host } => {
            no_peer_test()?;
            if *host {
                host_test()?;
                host_launch_test()
            } else {
                vm_test(Duration::from_secs(*timeout))
            }
        }
    }
}

/// A shared-region file, removed on drop if we created it for this run.
pub struct ShmFile {
    pub path: PathBuf,
    remove: bool,
}

impl ShmFile {
    /// A fresh file `/dev/shm/lwk-linux-vm-<pid>-<tag>`, removed on drop.
    pub fn fresh(tag: &str) -> Result<ShmFile> {
        let path = PathBuf::from(format!(
            "/dev/shm/lwk-linux-vm-{}-{tag}",
            std::process::id()
        ));
        let _ = fs::remove_file(&path);
        Self::at(&path, true)
    }

    /// `path`, created if missing and sized to the region.
    pub fn at(path: &Path, remove: bool) -> Result<ShmFile> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let len = channel::wire::REGION_SIZE as u64;
        if f.metadata()?.len() < len {
            f.set_len(len)
                .with_context(|| format!("cannot size {}", path.display()))?;
        }
        Ok(ShmFile {
            path: path.to_path_buf(),
            remove,
        })
    }

    /// The QEMU arguments that give a machine this region as its ivshmem
    /// device (BAR 2), as the seL4 boots take it (`--extra-qemu-args`).
    pub fn qemu_args(&self) -> String {
        format!(
            "-object memory-backend-file,id=shm,mem-path={},size={}M,share=on -device ivshmem-plain,memdev=shm",
            self.path.display(),
            channel::wire::REGION_SIZE >> 20
        )
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        if self.remove {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The QEMU command line of the Linux VM.
pub fn qemu_command(image: &image::Image, shm: &Path, share: &Path, trace: bool) -> Command {
    qemu_command_with(image, shm, share, trace, &Extras::default())
}

/// What a job-launching boot adds to the Linux VM.
#[derive(Default)]
pub struct Extras {
    /// Host directories shared read-only as program trees: the `i`th is
    /// 9p tag `lwkprog<i>`, mounted at `/mnt/progs/<i>`, seen by jobs as
    /// `/.lwk/<i>`.
    pub programs: Vec<PathBuf>,
    /// The Unix socket (listening on the host) QEMU connects the launch
    /// port (virtio-serial, `lwk.launch`) to.
    pub launch: Option<PathBuf>,
}

/// The QEMU command line of the Linux VM with program shares and a launch
/// port.
pub fn qemu_command_with(
    image: &image::Image,
    shm: &Path,
    share: &Path,
    trace: bool,
    extras: &Extras,
) -> Command {
    let mut append = CMDLINE.to_string();
    if trace {
        append.push_str(" lwk_trace=1");
    }
    if !extras.programs.is_empty() {
        append.push_str(&format!(" lwk_progs={}", extras.programs.len()));
    }
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-machine", "pc", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", MEM,
    ])
    .args([
        "-nodefaults",
        "-nographic",
        "-serial",
        "mon:stdio",
        "-no-reboot",
    ])
    .arg("-kernel")
    .arg(&image.vmlinux)
    .arg("-initrd")
    .arg(&image.initramfs)
    .args(["-append", &append])
    .arg("-object")
    .arg(format!(
        "memory-backend-file,id=shm,mem-path={},size={},share=on",
        shm.display(),
        channel::wire::REGION_SIZE
    ))
    .args(["-device", "ivshmem-plain,memdev=shm"])
    .arg("-virtfs")
    .arg(format!(
        "local,path={},mount_tag=host0,security_model=none",
        share.display()
    ));
    for (i, dir) in extras.programs.iter().enumerate() {
        cmd.arg("-virtfs").arg(format!(
            "local,path={},mount_tag=lwkprog{i},security_model=none,readonly=on",
            dir.display()
        ));
    }
    if let Some(sock) = &extras.launch {
        cmd.args(["-device", "virtio-serial-pci,id=lwkser"])
            .arg("-chardev")
            .arg(format!("socket,id=lwklaunch,path={}", sock.display()))
            .arg("-device")
            .arg(format!(
                "virtserialport,bus=lwkser.0,chardev=lwklaunch,name={}",
                lwk_linux_daemon::launch_wire::PORT_NAME
            ));
    }
    cmd
}

/// Where boot logs go.
pub fn log_path(name: &str) -> Result<PathBuf> {
    let logs = layout::logs_dir();
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    Ok(logs.join(format!("{name}.log")))
}

fn run_boot(args: &BootArgs) -> Result<()> {
    let image = image::build()?;
    let share = match &args.share {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let share =
        fs::canonicalize(&share).with_context(|| format!("no directory {}", share.display()))?;
    let shm = match &args.shm {
        Some(path) => ShmFile::at(path, false)?,
        None => ShmFile::fresh("boot")?,
    };
    step(format!(
        "linux-vm: booting {} with share {} and region {}",
        image.kernel_release,
        share.display(),
        shm.path.display()
    ));
    let mut machine = Machine::spawn(qemu_command(&image, &shm.path, &share, args.trace))?;
    let log = log_path("linux-vm-boot")?;
    let until_ready = args.until_ready;
    let outcome = machine.watch(&log, Duration::from_secs(args.timeout), READY, |line| {
        println!("{line}");
        if line.contains(FAIL) {
            Check::Fail(line.to_string())
        } else if line.contains(READY) {
            step("linux-vm: daemon ready");
            if until_ready {
                Check::Pass
            } else {
                Check::Continue
            }
        } else {
            Check::Continue
        }
    })?;
    if let Some(t) = outcome.marker_after {
        step(format!(
            "linux-vm: {READY} after {:.2} s (QEMU start to the daemon's line)",
            t.as_secs_f64()
        ));
    }
    outcome
        .verdict
        .map_err(|why| anyhow::anyhow!("{why} (console log: {})", log.display()))
}
