//! A fake [`Process`] over a vector: what the handlers see, without seL4.

use lwk_personality::syscall::process::{CpuSet, Credentials, Ids, Process, Report, Rlimits};
use lwk_personality::syscall::signal::SignalState;
use lwk_personality::syscall::time::TscClock;
use lwk_personality::syscall::{Errno, UserAddr};

/// Base address of the fake's user memory.
pub const MEM_BASE: u64 = 0x1000_0000;
/// Size of the fake's user memory.
pub const MEM_SIZE: usize = 1 << 16;

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
        }
    }
}

impl FakeProcess {
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
}
