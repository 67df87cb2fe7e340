//! A fake [`Process`] over a vector: what the handlers see, without seL4.

use super::backing::FakeBacking;
use super::daemon::FakeDaemon;
use lwk_personality::fd::FdTable;
use lwk_personality::futex::FutexTable;
use lwk_personality::mm::{AddressSpace, Backing, Layout};
use lwk_personality::syscall::process::{CpuSet, Credentials, Ids, Process, Report, Rlimits};
use lwk_personality::syscall::ship::Shipped;
use lwk_personality::syscall::signal::SignalState;
use lwk_personality::syscall::time::{Deadline, TscClock};
use lwk_personality::syscall::{Errno, ThreadId, UserAddr};

/// Base address of the fake's user memory.
pub const MEM_BASE: u64 = 0x1000_0000;
/// Size of the fake's user memory.
pub const MEM_SIZE: usize = 1 << 16;

/// User memory for `copy_in`/`copy_out` is a plain vector at `MEM_BASE`;
/// the address space (`space` over `backing`) is separate and serves the
/// memory calls.
pub struct FakeProcess {
    pub mem: Vec<u8>,
    pub ids: Ids,
    pub creds: Credentials,
    pub clock: TscClock,
    pub tsc: u64,
    pub process_start: u64,
    pub thread_start: u64,
    pub signals: SignalState,
    pub rlimits: Rlimits,
    pub cpus: CpuSet,
    pub clear_child_tid: Option<UserAddr>,
    pub robust_list: Option<UserAddr>,
    pub reports: Vec<Report>,
    pub random_counter: u8,
    pub space: AddressSpace,
    pub backing: FakeBacking,
    pub futexes: FutexTable,
    /// Threads handed to `wake`, in order.
    pub woken: Vec<ThreadId>,
    pub fs_base: u64,
    pub name: [u8; 16],
    pub exe: String,
    pub ttys: [bool; 3],
    /// Bytes written per standard descriptor.
    pub console_out: [Vec<u8>; 3],
    /// Most bytes one console write takes (partial writes).
    pub console_write_limit: usize,
    /// Bytes stdin will deliver; `console_read` returns at most
    /// `console_read_limit` per call.
    pub console_in: Vec<u8>,
    pub console_read_limit: usize,
    /// Deadlines slept until.
    pub sleeps: Vec<Deadline>,
    /// If set, a sleep is cut short after this many ns (EINTR).
    pub interrupt_sleep_after: Option<u64>,
    pub fds: FdTable,
    /// The Linux side; `None`: standalone (shipping is `ENOSYS`).
    pub daemon: Option<FakeDaemon>,
}

impl Default for FakeProcess {
    fn default() -> Self {
        Self {
            mem: vec![0; MEM_SIZE],
            ids: Ids {
                pid: 100,
                tid: 101,
                ppid: 1,
                pgid: 100,
                sid: 99,
            },
            creds: Credentials {
                uid: 1000,
                euid: 1001,
                suid: 1002,
                gid: 50,
                egid: 51,
                sgid: 52,
            },
            clock: TscClock {
                tsc_hz: 2_000_000_000,
                boot_tsc: 1_000,
                realtime_at_boot_ns: 1_700_000_000_000_000_000,
            },
            tsc: 1_000,
            process_start: 1_000,
            thread_start: 1_000,
            signals: SignalState::default(),
            rlimits: Rlimits::default(),
            cpus: CpuSet {
                allowed: 0b0110,
                possible: 4,
            },
            clear_child_tid: None,
            robust_list: None,
            reports: Vec::new(),
            random_counter: 0,
            space: AddressSpace::new(Layout::default()),
            backing: FakeBacking::new(16, 64, 0),
            futexes: FutexTable::new(),
            woken: Vec::new(),
            fs_base: 0,
            name: *b"prog\0\0\0\0\0\0\0\0\0\0\0\0",
            exe: "/home/user/bin/prog".to_string(),
            ttys: [true, true, false],
            console_out: Default::default(),
            console_write_limit: usize::MAX,
            console_in: Vec::new(),
            console_read_limit: usize::MAX,
            sleeps: Vec::new(),
            interrupt_sleep_after: None,
            fds: FdTable::console(),
            daemon: None,
        }
    }
}

impl FakeProcess {
    /// A process whose job was launched through the Linux VM: fds 0–2 are
    /// the daemon's, and files are served by a fake daemon.
    pub fn shipping() -> Self {
        FakeProcess {
            fds: FdTable::remote_stdio(),
            daemon: Some(FakeDaemon::new()),
            ..Default::default()
        }
    }

    /// Address `off` bytes into user memory.
    pub fn at(off: u64) -> UserAddr {
        UserAddr(MEM_BASE + off)
    }

    fn range(&self, addr: UserAddr, len: usize) -> Result<std::ops::Range<usize>, Errno> {
        let start = addr.0.checked_sub(MEM_BASE).ok_or(Errno::EFAULT)? as usize;
        let end = start.checked_add(len).ok_or(Errno::EFAULT)?;
        if end > self.mem.len() {
            return Err(Errno::EFAULT);
        }
        Ok(start..end)
    }

    pub fn read(&self, off: u64, len: usize) -> &[u8] {
        &self.mem[off as usize..off as usize + len]
    }

    pub fn read_u64(&self, off: u64) -> u64 {
        u64::from_le_bytes(self.read(off, 8).try_into().unwrap())
    }

    pub fn write(&mut self, off: u64, bytes: &[u8]) {
        self.mem[off as usize..off as usize + bytes.len()].copy_from_slice(bytes);
    }

    pub fn write_u64s(&mut self, off: u64, words: &[u64]) {
        for (i, w) in words.iter().enumerate() {
            self.write(off + 8 * i as u64, &w.to_le_bytes());
        }
    }
}

impl Process for FakeProcess {
    fn copy_in(&mut self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        let r = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.mem[r]);
        Ok(())
    }
    fn copy_out(&mut self, addr: UserAddr, bytes: &[u8]) -> Result<(), Errno> {
        let r = self.range(addr, bytes.len())?;
        self.mem[r].copy_from_slice(bytes);
        Ok(())
    }
    fn ids(&self) -> Ids {
        self.ids
    }
    fn credentials(&self) -> Credentials {
        self.creds
    }
    fn clock(&self) -> &TscClock {
        &self.clock
    }
    fn read_tsc(&self) -> u64 {
        self.tsc
    }
    fn process_start_tsc(&self) -> u64 {
        self.process_start
    }
    fn thread_start_tsc(&self) -> u64 {
        self.thread_start
    }
    fn signals(&mut self) -> &mut SignalState {
        &mut self.signals
    }
    fn rlimits(&mut self) -> &mut Rlimits {
        &mut self.rlimits
    }
    fn affinity(&self) -> CpuSet {
        self.cpus
    }
    fn nodename(&self) -> &str {
        "lwk-node"
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.random_counter = self.random_counter.wrapping_add(1);
            *b = self.random_counter;
        }
    }
    fn set_clear_child_tid(&mut self, addr: UserAddr) {
        self.clear_child_tid = Some(addr);
    }
    fn set_robust_list(&mut self, head: UserAddr) {
        self.robust_list = Some(head);
    }
    fn report(&mut self, event: Report) {
        self.reports.push(event);
    }
    fn mm(&mut self) -> (&mut AddressSpace, &mut dyn Backing) {
        (&mut self.space, &mut self.backing)
    }
    fn futexes(&mut self) -> &mut FutexTable {
        &mut self.futexes
    }
    fn wake(&mut self, threads: &[ThreadId]) {
        self.woken.extend_from_slice(threads);
    }
    fn clear_child_tid(&self) -> UserAddr {
        self.clear_child_tid.unwrap_or(UserAddr::NULL)
    }
    fn sleep_until(&mut self, deadline: Deadline) -> Result<(), Errno> {
        self.sleeps.push(deadline);
        match self.interrupt_sleep_after {
            Some(ns) => {
                self.tsc += ns * self.clock.tsc_hz / 1_000_000_000;
                Err(Errno::EINTR)
            }
            None => {
                self.tsc = self.tsc.max(self.clock.tsc_at(deadline));
                Ok(())
            }
        }
    }
    fn fs_base(&self) -> u64 {
        self.fs_base
    }
    fn set_fs_base(&mut self, base: u64) {
        self.fs_base = base;
    }
    fn thread_name(&mut self) -> &mut [u8; 16] {
        &mut self.name
    }
    fn exe_path(&self) -> &str {
        &self.exe
    }
    fn is_terminal(&self, fd: i32) -> bool {
        self.ttys[fd as usize]
    }
    fn console_write(&mut self, fd: i32, bytes: &[u8]) -> Result<usize, Errno> {
        let n = bytes.len().min(self.console_write_limit);
        self.console_out[fd as usize].extend_from_slice(&bytes[..n]);
        Ok(n)
    }
    fn fds(&mut self) -> &mut FdTable {
        &mut self.fds
    }
    fn ship(&mut self, call: Shipped<'_>, reply: &mut [u8]) -> Result<(u64, usize), Errno> {
        match &mut self.daemon {
            Some(d) => d.serve(call, reply),
            None => Err(Errno::ENOSYS),
        }
    }
    fn console_read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
        if fd != 0 {
            return Err(Errno::EBADF);
        }
        let n = buf
            .len()
            .min(self.console_in.len())
            .min(self.console_read_limit);
        buf[..n].copy_from_slice(&self.console_in[..n]);
        self.console_in.drain(..n);
        Ok(n)
    }
}
