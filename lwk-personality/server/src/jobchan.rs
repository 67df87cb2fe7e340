//! The standalone job channel on COM2 (0x2f8): the program's stdout and
//! stderr, its exit, and its stdin, framed, between the personality and
//! `cargo xtask run --standalone` on the host, until the Linux VM serves
//! I/O. COM1 stays the system console, so the program's own output never
//! mixes with logs.
//!
//! Frames, both ways: `kind u8 | len u16 le | len bytes`. LWK → host:
//! 1 stdout, 2 stderr, 3 exit (`status i32 le | signal i32 le`), 4 job
//! start (the path). Host → LWK: 1 stdin bytes, `len == 0` is end of file.

use core::sync::atomic::{AtomicBool, Ordering};
use sel4::cap_type::IoPort;
use sel4::Cap;

const BASE: u64 = 0x2f8;
const LSR: u16 = 0x2fd;
const MAX_FRAME: usize = 4096;

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const START: u8 = 4;

/// Serialises frames from several handler threads.
static LOCK: AtomicBool = AtomicBool::new(false);

pub struct JobChannel {
    port: Cap<IoPort>,
}

impl JobChannel {
    pub const fn new(port: Cap<IoPort>) -> Self {
        JobChannel { port }
    }

    fn put(&self, b: u8) {
        // QEMU's UART is always ready; bound the wait for a real one.
        for _ in 0..10_000 {
            match self.port.io_port_in8(LSR) {
                Ok(lsr) if lsr & 0x20 != 0 => break,
                Ok(_) => core::hint::spin_loop(),
                Err(_) => return,
            }
        }
        let _ = self.port.io_port_out8(BASE, b as u64);
    }

    /// Sends `bytes` as frames of `kind`.
    pub fn send(&self, kind: u8, bytes: &[u8]) {
        while LOCK
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            sel4::yield_now();
        }
        let mut chunks = bytes.chunks(MAX_FRAME).peekable();
        if chunks.peek().is_none() {
            self.frame(kind, &[]);
        }
        for c in chunks {
            self.frame(kind, c);
        }
        LOCK.store(false, Ordering::Release);
    }

    fn frame(&self, kind: u8, c: &[u8]) {
        self.put(kind);
        let len = (c.len() as u16).to_le_bytes();
        self.put(len[0]);
        self.put(len[1]);
        for &b in c {
            self.put(b);
        }
    }

    /// Sends the exit frame.
    pub fn exit(&self, status: i32, signal: i32) {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&status.to_le_bytes());
        b[4..].copy_from_slice(&signal.to_le_bytes());
        self.send(EXIT, &b);
    }

    /// Reads one received byte if any.
    pub fn try_get(&self) -> Option<u8> {
        let lsr = self.port.io_port_in8(LSR).ok()?;
        if lsr & 1 == 0 {
            return None;
        }
        self.port.io_port_in8(BASE as u16).ok()
    }
}

/// The program's stdin, read from framed input on COM2.
#[derive(Default)]
pub struct StdinReader {
    /// Bytes of the current frame still to deliver.
    left: usize,
    eof: bool,
}

impl StdinReader {
    /// Reads up to `buf.len()` bytes, waiting (bounded by `deadline`) for
    /// the first one; `Ok(0)` at end of file; `Err(())` on timeout.
    pub fn read(
        &mut self,
        ch: &JobChannel,
        buf: &mut [u8],
        deadline: &sel4_root_task::time::Deadline,
    ) -> Result<usize, ()> {
        let get = |d: &sel4_root_task::time::Deadline| -> Result<u8, ()> {
            loop {
                if let Some(b) = ch.try_get() {
                    return Ok(b);
                }
                if d.expired() {
                    return Err(());
                }
                core::hint::spin_loop();
            }
        };
        while self.left == 0 {
            if self.eof || buf.is_empty() {
                return Ok(0);
            }
            let kind = get(deadline)?;
            let len = u16::from_le_bytes([get(deadline)?, get(deadline)?]) as usize;
            if kind != STDOUT {
                // Not stdin data (kind 1 is shared with stdout's number): skip.
                for _ in 0..len {
                    get(deadline)?;
                }
                continue;
            }
            if len == 0 {
                self.eof = true;
                return Ok(0);
            }
            self.left = len;
        }
        let n = buf.len().min(self.left);
        for b in &mut buf[..n] {
            *b = get(deadline)?;
        }
        self.left -= n;
        Ok(n)
    }
}
