//! End-to-end checks of the Linux VM, with this host process as the LWK.
//!
//! [`vm_test`] boots the image with a fresh share directory and region file,
//! waits for `LINUX-VM-READY`, maps the same file here, formats it as the LWK
//! does, and forwards a sequence of file calls through `channel`'s
//! requester; after each, the host's own view of the share is compared with
//! what the call said. [`host_test`] runs the same sequence against the
//! daemon running natively on this host (no QEMU: seconds, not minutes).
//! [`no_peer_test`] checks that with no Linux VM at all the requester gets
//! a clear error after a bounded wait.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use channel::wire::{REGION_SIZE, SLOT_DATA_SIZE};
use channel::{backoff_ns, Call, ChannelError, Errno, JobId, LwkEndpoint, Opcode, Region, Waiter};

use super::{image, log_path, qemu_command, ShmFile, FAIL, READY};
use crate::proc::{self, step};
use crate::qemu::{Check, Machine};

/// How long one forwarded call may take (9p under TCG is milliseconds).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the daemon may take to attach after we format.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(20);

/// Wall-clock time and sleeps, for the channel's polling.
pub(super) struct Clock(pub(super) Instant);

impl Waiter for Clock {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
    fn relax(&mut self, round: u32) {
        std::thread::sleep(Duration::from_nanos(backoff_ns(round)));
    }
}

/// The region file mapped shared into this process.
pub(super) struct Mapping {
    base: *mut u8,
    len: usize,
}

impl Mapping {
    pub(super) fn open(path: &Path) -> Result<Mapping> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let len = REGION_SIZE;
        // SAFETY: a fresh shared mapping of a file at least `len` long (the
        // ShmFile sized it); no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            bail!(
                "cannot map {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(Mapping {
            base: base.cast(),
            len,
        })
    }

    pub(super) fn region(&self) -> Result<Region<'_>> {
        // SAFETY: mapped readable and writable for `len` bytes while `self`
        // lives; this process touches it only through the channel crate
        // (the other users are the daemon and QEMU, other processes).
        unsafe { Region::new(self.base, self.len) }.map_err(|e| anyhow::anyhow!("{e}"))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps what `open` mapped; regions borrowing it are gone.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

/// The LWK's side of the conversation: one job's forwarded calls.
struct Lwk<'a> {
    endpoint: LwkEndpoint<'a>,
    clock: Clock,
    job: JobId,
    reply: Vec<u8>,
    calls: usize,
}

const AT_FDCWD: u64 = libc::AT_FDCWD as i64 as u64;

impl<'a> Lwk<'a> {
    /// One forwarded call: `data` travels with it, the answer's data lands
    /// in `self.reply`. Channel errors are errors; the call's own errno is
    /// the inner result.
    fn call(&mut self, op: Opcode, args: &[u64], data: &[u8]) -> Result<Result<u64, Errno>> {
        let mut call = Call::new(self.job, op);
        call.args[..args.len()].copy_from_slice(args);
        self.reply.resize(SLOT_DATA_SIZE, 0);
        let response = self
            .endpoint
            .io
            .call(call, data, &mut self.reply, &mut self.clock, CALL_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("{}: channel: {e}", op.name()))?;
        self.reply.truncate(response.data_len as usize);
        self.calls += 1;
        Ok(response.outcome())
    }

    /// A call that must succeed.
    fn ok(&mut self, op: Opcode, args: &[u64], data: &[u8]) -> Result<u64> {
        self.call(op, args, data)?
            .map_err(|e| anyhow::anyhow!("{}{:?}: {e}", op.name(), &args))
    }

    /// A call that must fail with `errno`.
    fn fails(&mut self, errno: Errno, op: Opcode, args: &[u64], data: &[u8]) -> Result<()> {
        let got = self.call(op, args, data)?;
        ensure!(
            got == Err(errno),
            "{}{:?} {:?}: expected {errno}, got {got:?}",
            op.name(),
            args,
            String::from_utf8_lossy(data)
        );
        Ok(())
    }

    /// `openat(AT_FDCWD, path, flags, mode)`.
    fn open(&mut self, path: &str, flags: i32, mode: u32) -> Result<Result<u64, Errno>> {
        let data = cstr(path);
        self.call(
            Opcode::Openat,
            &[AT_FDCWD, 0, flags as u64, mode.into()],
            &data,
        )
    }
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// `st_size` and `st_mode` of a raw x86_64 `struct stat`.
fn stat_size_mode(stat: &[u8]) -> Result<(u64, u32)> {
    ensure!(stat.len() == 144, "struct stat of {} bytes", stat.len());
    let size = u64::from_le_bytes(stat[48..56].try_into()?);
    let mode = u32::from_le_bytes(stat[24..28].try_into()?);
    Ok((size, mode))
}

/// The names in raw `linux_dirent64` records.
fn dirent_names(mut buf: &[u8]) -> Result<Vec<String>> {
    let mut names = Vec::new();
    while !buf.is_empty() {
        ensure!(buf.len() >= 19, "truncated dirent");
        let reclen = u16::from_le_bytes(buf[16..18].try_into()?) as usize;
        ensure!(reclen >= 19 && reclen <= buf.len(), "bad d_reclen {reclen}");
        let name = &buf[19..reclen];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        names.push(String::from_utf8_lossy(&name[..end]).into_owned());
        buf = &buf[reclen..];
    }
    names.sort();
    Ok(names)
}

/// The bytes the test writes: a pattern that shows misplaced chunks.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
}

/// The forwarded calls, each checked against the host's view of `share`.
/// `outside` is a file beside the share that must stay out of reach.
fn exercise(lwk: &mut Lwk, share: &Path, outside: &Path) -> Result<()> {
    use Opcode::*;
    let o = |flags: i32| flags;

    // The first call of a job: descriptors 0-2 exist, cwd is the root.
    let n = lwk.ok(Getcwd, &[0, 4096], &[])?;
    ensure!(lwk.reply == b"/\0" && n == 2, "getcwd: {:?}", lwk.reply);

    // mkdirat, then a file in it: create, write 200 KB in slot-sized
    // pieces, fsync, and compare with the host's copy.
    lwk.ok(Mkdirat, &[AT_FDCWD, 0, 0o755], &cstr("dir"))?;
    ensure!(
        share.join("dir").is_dir(),
        "mkdirat: no directory on the host"
    );
    lwk.fails(Errno::EEXIST, Mkdirat, &[AT_FDCWD, 0, 0o755], &cstr("dir"))?;
    let fd = lwk
        .open(
            "dir/file.bin",
            o(libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC),
            0o640,
        )?
        .map_err(|e| anyhow::anyhow!("openat O_CREAT: {e}"))?;
    ensure!(fd == 3, "first descriptor of a job is {fd}, expected 3");
    let content = pattern(200_000);
    for chunk in content.chunks(SLOT_DATA_SIZE) {
        let n = lwk.ok(Write, &[fd, 0, chunk.len() as u64], chunk)?;
        ensure!(n == chunk.len() as u64, "short write {n}");
    }
    lwk.ok(Fsync, &[fd], &[])?;
    let on_host = fs::read(share.join("dir/file.bin"))?;
    ensure!(
        on_host == content,
        "host sees {} bytes that differ",
        on_host.len()
    );
    ensure!(
        fs::metadata(share.join("dir/file.bin"))?.mode() & 0o777 == 0o640,
        "mode on the host is not 0640"
    );
    // pwrite64 patches in place; fdatasync; the host sees the patch.
    lwk.ok(Pwrite64, &[fd, 0, 5, 1000], b"PATCH")?;
    lwk.ok(Fdatasync, &[fd], &[])?;
    ensure!(
        &fs::read(share.join("dir/file.bin"))?[1000..1005] == b"PATCH",
        "pwrite64 not on the host"
    );
    // Reading a write-only descriptor is EBADF, as natively.
    lwk.fails(Errno::EBADF, Read, &[fd, 0, 16], &[])?;
    lwk.ok(Close, &[fd], &[])?;
    lwk.fails(Errno::EBADF, Close, &[fd], &[])?;

    // Read it all back through the channel, in slot-sized reads.
    let mut expected = content.clone();
    expected[1000..1005].copy_from_slice(b"PATCH");
    let fd = lwk
        .open("/dir/file.bin", libc::O_RDONLY, 0)?
        .map_err(|e| anyhow::anyhow!("openat: {e}"))?;
    let mut back = Vec::new();
    loop {
        let n = lwk.ok(Read, &[fd, 0, SLOT_DATA_SIZE as u64], &[])?;
        if n == 0 {
            break;
        }
        ensure!(
            n as usize == lwk.reply.len(),
            "read said {n}, sent {}",
            lwk.reply.len()
        );
        back.extend_from_slice(&lwk.reply);
    }
    ensure!(
        back == expected,
        "read back {} bytes that differ",
        back.len()
    );
    let n = lwk.ok(Pread64, &[fd, 0, 5, 1000], &[])?;
    ensure!(n == 5 && lwk.reply == b"PATCH", "pread64: {:?}", lwk.reply);
    let end = lwk.ok(Lseek, &[fd, 0, libc::SEEK_END as u64], &[])?;
    ensure!(end == expected.len() as u64, "lseek SEEK_END = {end}");

    // fstat and newfstatat agree with the host.
    lwk.ok(Fstat, &[fd], &[])?;
    let (size, mode) = stat_size_mode(&lwk.reply)?;
    let meta = fs::metadata(share.join("dir/file.bin"))?;
    ensure!(
        size == meta.len() && mode == meta.mode(),
        "fstat: size {size} mode {mode:o}, host {} {:o}",
        meta.len(),
        meta.mode()
    );
    lwk.ok(Newfstatat, &[AT_FDCWD, 0, 0, 0], &cstr("dir/file.bin"))?;
    ensure!(
        stat_size_mode(&lwk.reply)? == (size, mode),
        "newfstatat differs from fstat"
    );
    lwk.fails(
        Errno::ENOENT,
        Newfstatat,
        &[AT_FDCWD, 0, 0, 0],
        &cstr("dir/missing"),
    )?;

    // fcntl: descriptor flags live in the job's table, F_DUPFD finds the
    // lowest free number at or above its argument, locks conflict between
    // different opens.
    lwk.ok(
        Fcntl,
        &[fd, libc::F_SETFD as u64, libc::FD_CLOEXEC as u64],
        &[],
    )?;
    ensure!(
        lwk.ok(Fcntl, &[fd, libc::F_GETFD as u64, 0], &[])? == 1,
        "F_GETFD lost FD_CLOEXEC"
    );
    let dup = lwk.ok(Fcntl, &[fd, libc::F_DUPFD as u64, 10], &[])?;
    ensure!(dup == 10, "F_DUPFD 10 gave {dup}");
    ensure!(
        lwk.ok(Fcntl, &[dup, libc::F_GETFD as u64, 0], &[])? == 0,
        "dup inherited FD_CLOEXEC"
    );
    let fl = lwk.ok(Fcntl, &[fd, libc::F_GETFL as u64, 0], &[])?;
    ensure!(
        fl as i32 & libc::O_ACCMODE == libc::O_RDONLY,
        "F_GETFL {fl:#x}"
    );
    lwk.ok(Close, &[dup], &[])?;
    let rw = lwk
        .open("dir/file.bin", libc::O_RDWR, 0)?
        .map_err(|e| anyhow::anyhow!("open O_RDWR: {e}"))?;
    let other = lwk
        .open("dir/file.bin", libc::O_RDWR, 0)?
        .map_err(|e| anyhow::anyhow!("open O_RDWR: {e}"))?;
    let flock = |kind: i16| {
        let mut f = [0u8; 32];
        f[0..2].copy_from_slice(&kind.to_le_bytes());
        f[2..4].copy_from_slice(&(libc::SEEK_SET as i16).to_le_bytes());
        f[16..24].copy_from_slice(&100i64.to_le_bytes()); // l_len
        f
    };
    lwk.ok(
        Fcntl,
        &[rw, libc::F_SETLK as u64, 0],
        &flock(libc::F_WRLCK as i16),
    )?;
    lwk.fails(
        Errno::EAGAIN,
        Fcntl,
        &[other, libc::F_SETLK as u64, 0],
        &flock(libc::F_WRLCK as i16),
    )?;
    lwk.ok(
        Fcntl,
        &[other, libc::F_GETLK as u64, 0],
        &flock(libc::F_WRLCK as i16),
    )?;
    let kind = i16::from_le_bytes(lwk.reply[0..2].try_into()?);
    ensure!(
        kind == libc::F_WRLCK as i16,
        "F_GETLK sees lock type {kind}"
    );
    lwk.ok(
        Fcntl,
        &[rw, libc::F_SETLK as u64, 0],
        &flock(libc::F_UNLCK as i16),
    )?;
    lwk.ok(
        Fcntl,
        &[other, libc::F_SETLKW as u64, 0],
        &flock(libc::F_WRLCK as i16),
    )?;
    // ftruncate through the second descriptor.
    lwk.ok(Ftruncate, &[other, 4096], &[])?;
    ensure!(
        fs::metadata(share.join("dir/file.bin"))?.len() == 4096,
        "ftruncate not on the host"
    );
    for f in [fd, rw, other] {
        lwk.ok(Close, &[f], &[])?;
    }

    // Directory listing includes what the host made behind our back.
    fs::write(share.join("dir/host-made"), "from the host")?;
    let dfd = lwk
        .open("dir", libc::O_RDONLY | libc::O_DIRECTORY, 0)?
        .map_err(|e| anyhow::anyhow!("open dir: {e}"))?;
    let mut names = Vec::new();
    loop {
        let n = lwk.ok(Getdents64, &[dfd, 0, 4096], &[])?;
        if n == 0 {
            break;
        }
        names.extend(dirent_names(&lwk.reply)?);
    }
    names.sort();
    ensure!(
        names == [".", "..", "file.bin", "host-made"],
        "getdents64: {names:?}"
    );
    lwk.ok(Fsync, &[dfd], &[])?;

    // renameat, readlinkat, faccessat, relative to an open directory.
    lwk.ok(Renameat, &[dfd, 0, AT_FDCWD, 9], b"file.bin\0dir/renamed\0")?;
    ensure!(
        share.join("dir/renamed").is_file() && !share.join("dir/file.bin").exists(),
        "renameat not on the host"
    );
    symlink("renamed", share.join("dir/link"))?;
    let n = lwk.ok(Readlinkat, &[dfd, 0, 0, 256], &cstr("link"))?;
    ensure!(
        n == 7 && lwk.reply == b"renamed",
        "readlinkat: {:?}",
        lwk.reply
    );
    lwk.ok(
        Faccessat,
        &[AT_FDCWD, 0, libc::R_OK as u64, 0],
        &cstr("dir/link"),
    )?;
    lwk.fails(
        Errno::ENOENT,
        Faccessat,
        &[AT_FDCWD, 0, libc::R_OK as u64, 0],
        &cstr("dir/nope"),
    )?;

    // Confinement: `..`, absolute paths and symlinks never leave the share.
    ensure!(
        outside.is_file(),
        "test setup: {} missing",
        outside.display()
    );
    let secret = outside
        .file_name()
        .and_then(|n| n.to_str())
        .context("name")?
        .to_string();
    symlink(format!("../../{secret}"), share.join("dir/escape"))?;
    symlink(outside, share.join("dir/abs-escape"))?;
    for path in [
        format!("../{secret}"),
        format!("/../{secret}"),
        format!("dir/../../{secret}"),
        "dir/escape".to_string(),
        "dir/abs-escape".to_string(),
    ] {
        let got = lwk.open(&path, libc::O_RDONLY, 0)?;
        ensure!(
            got == Err(Errno::ENOENT),
            "open {path:?} escaped the share: {got:?}"
        );
    }
    lwk.fails(
        Errno::ENOENT,
        Openat,
        &[dfd, 0, libc::O_RDONLY as u64, 0],
        &cstr(&format!("../../{secret}")),
    )?;
    lwk.fails(
        Errno::ENOENT,
        Unlinkat,
        &[AT_FDCWD, 0, 0],
        &cstr(&format!("../{secret}")),
    )?;
    ensure!(outside.is_file(), "the file outside the share was removed");

    // chdir and getcwd: the job sees its root as `/`.
    lwk.ok(Chdir, &[0], &cstr("dir"))?;
    lwk.ok(Getcwd, &[0, 4096], &[])?;
    ensure!(
        lwk.reply == b"/dir\0",
        "getcwd after chdir: {:?}",
        String::from_utf8_lossy(&lwk.reply)
    );
    lwk.fails(Errno::ENOENT, Chdir, &[0], &cstr("nope"))?;

    // unlinkat: files, then the emptied directory, from the root again.
    for name in ["renamed", "link", "host-made", "escape", "abs-escape"] {
        lwk.ok(Unlinkat, &[AT_FDCWD, 0, 0], &cstr(name))?;
    }
    lwk.ok(Close, &[dfd], &[])?;
    lwk.ok(Chdir, &[0], &cstr(".."))?;
    lwk.fails(Errno::EISDIR, Unlinkat, &[AT_FDCWD, 0, 0], &cstr("dir"))?;
    lwk.ok(
        Unlinkat,
        &[AT_FDCWD, 0, libc::AT_REMOVEDIR as u64],
        &cstr("dir"),
    )?;
    ensure!(
        !share.join("dir").exists(),
        "unlinkat AT_REMOVEDIR not on the host"
    );
    ensure!(
        fs::read_dir(share)?.next().is_none(),
        "share not empty at the end"
    );

    // The job ends: the daemon drops its table.
    let exit = channel::job::JobExit::Exited { code: 0 }.call(lwk.job);
    lwk.endpoint
        .io
        .call(exit, &[], &mut [], &mut lwk.clock, CALL_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("job_exit: {e}"))?;
    Ok(())
}

/// A fresh share directory with a secret file beside it.
struct Scratch {
    top: PathBuf,
    share: PathBuf,
    outside: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Result<Scratch> {
        let top = super::image::dir()
            .join("e2e")
            .join(format!("{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&top);
        let share = top.join("share");
        fs::create_dir_all(&share).with_context(|| format!("cannot create {}", share.display()))?;
        let outside = top.join("outside-secret");
        fs::write(&outside, "must stay out of reach")?;
        Ok(Scratch {
            top,
            share,
            outside,
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.top);
    }
}

/// Formats the region as the LWK, waits for the daemon, runs [`exercise`].
fn as_lwk(shm: &Path, scratch: &Scratch) -> Result<String> {
    let mapping = Mapping::open(shm)?;
    let region = mapping.region()?;
    let endpoint = LwkEndpoint::format(region);
    let mut clock = Clock(Instant::now());
    let started = Instant::now();
    endpoint
        .liveness
        .wait_for_peer(&mut clock, ATTACH_TIMEOUT)
        .map_err(|e| {
            anyhow::anyhow!(
                "the daemon did not attach within {} s: {e}",
                ATTACH_TIMEOUT.as_secs()
            )
        })?;
    let mut lwk = Lwk {
        endpoint,
        clock,
        job: JobId(1),
        reply: Vec::new(),
        calls: 0,
    };
    let result = exercise(&mut lwk, &scratch.share, &scratch.outside);
    lwk.endpoint.liveness.close();
    result?;
    let elapsed = started.elapsed();
    Ok(format!(
        "{} forwarded calls in {:.2} s ({:.2} ms per call)",
        lwk.calls,
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / lwk.calls as f64
    ))
}

/// With no Linux VM, the LWK's wait for its peer ends with a clear error
/// within its timeout, and a call fails at once.
pub fn no_peer_test() -> Result<()> {
    let shm = ShmFile::fresh("nopeer")?;
    let mapping = Mapping::open(&shm.path)?;
    let mut lwk = LwkEndpoint::format(mapping.region()?);
    let mut clock = Clock(Instant::now());
    let timeout = Duration::from_secs(2);
    let started = Instant::now();
    let waited = lwk.liveness.wait_for_peer(&mut clock, timeout);
    let took = started.elapsed();
    ensure!(
        waited == Err(ChannelError::Timeout),
        "wait_for_peer without a VM: {waited:?}"
    );
    ensure!(
        took >= timeout && took < timeout + Duration::from_secs(2),
        "waited {took:?}"
    );
    let call = Call::new(JobId(1), Opcode::Getcwd).arg(1, 4096);
    let r = lwk.io.call(call, &[], &mut [0; 4096], &mut clock, timeout);
    ensure!(
        r == Err(ChannelError::PeerDown),
        "a call without a VM: {r:?}"
    );
    step(format!(
        "linux-vm: no VM: wait_for_peer -> {} after {:.2} s; a call -> {}",
        ChannelError::Timeout,
        took.as_secs_f64(),
        ChannelError::PeerDown
    ));
    Ok(())
}

/// The exercise against the daemon running natively on this host.
pub fn host_test() -> Result<()> {
    step("linux-vm: building the daemon for the host");
    let target_dir = image::dir().join("host-cargo");
    proc::run(
        proc::cargo()
            .args(["build", "-j2", "-p", "lwk-linux-daemon", "--target-dir"])
            .arg(&target_dir),
    )?;
    let daemon = target_dir.join("debug/lwk-linux-daemon");
    let scratch = Scratch::new("host")?;
    let shm = ShmFile::fresh("host")?;
    let mut child = Command::new(&daemon)
        .arg("--region")
        .arg(&shm.path)
        .arg("--share")
        .arg(&scratch.share)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", daemon.display()))?;
    let result = as_lwk(&shm.path, &scratch);
    let _ = child.kill();
    let _ = child.wait();
    step(format!("linux-vm: host daemon: {}", result?));
    Ok(())
}

/// Boots the VM and runs the exercise against it.
pub fn vm_test(timeout: Duration) -> Result<()> {
    let image = image::build()?;
    let scratch = Scratch::new("vm")?;
    let shm = ShmFile::fresh("e2e")?;
    let log = log_path("linux-vm-e2e")?;
    step(format!(
        "linux-vm e2e: booting with share {}, timeout {} s",
        scratch.share.display(),
        timeout.as_secs()
    ));
    let mut machine = Machine::spawn(qemu_command(&image, &shm.path, &scratch.share, false))?;
    let mut report = None;
    let outcome = machine.watch(&log, timeout, READY, |line| {
        if line.contains(FAIL) {
            return Check::Fail(line.to_string());
        }
        if !line.contains(READY) {
            return Check::Continue;
        }
        // The VM keeps running while we talk to it; its console lines wait
        // in the harness's queue and reach the log afterwards.
        match as_lwk(&shm.path, &scratch) {
            Ok(r) => {
                report = Some(r);
                Check::Pass
            }
            Err(e) => Check::Fail(format!("{e:#}")),
        }
    })?;
    drop(machine);
    let ready = outcome
        .marker_after
        .map_or_else(|| "never".into(), |t| format!("{:.2} s", t.as_secs_f64()));
    outcome
        .verdict
        .map_err(|why| anyhow::anyhow!("{why} (console log: {})", log.display()))?;
    step(format!(
        "linux-vm e2e: {READY} after {ready}; {}",
        report.unwrap_or_default()
    ));
    Ok(())
}
