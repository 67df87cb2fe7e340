//! The link to the Linux VM: the shared buffer (ivshmem BAR 2, mapped at
//! `IVSHMEM_VADDR`) formatted as the LWK's end of the `channel` protocol.
//!
//! Every wait on the other side is bounded: a forwarded call that gets no
//! answer within [`CALL_TIMEOUT`] is `EIO` for the program, and the
//! request is abandoned (its late answer, if any, is dropped by the
//! channel). Waiting polls the TSC: the waiting core is the job's own.

use channel::{Call, ChannelError, JobId, LwkEndpoint, Region, Waiter};
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use lwk_handoff::IVSHMEM_VADDR;
use lwk_personality::syscall::ship::Shipped;
use lwk_personality::syscall::Errno;
use sel4_root_task::println;
use sel4_root_task::time::now_ns;

/// How long a forwarded call may take (a 64 KiB transfer through 9p under
/// TCG takes milliseconds; an `fsync` of a large file longer).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The last shipped call and whether it is still waiting (diagnostics).
static LAST: AtomicU64 = AtomicU64::new(0);

/// "opcode N, waiting" or "opcode N, answered" for the last shipped call.
pub fn last_call() -> alloc::string::String {
    let v = LAST.load(Ordering::Relaxed);
    alloc::format!(
        "opcode {}, {}",
        v >> 1,
        if v & 1 != 0 { "waiting" } else { "answered" }
    )
}

/// Polls the TSC; backs off by spinning, since the core has nothing else
/// to run.
pub struct TscWaiter;

impl Waiter for TscWaiter {
    fn now_ns(&self) -> u64 {
        now_ns()
    }

    fn relax(&mut self, round: u32) {
        let until = now_ns() + channel::backoff_ns(round);
        while now_ns() < until {
            core::hint::spin_loop();
        }
    }
}

/// The LWK's end of the shared buffer.
pub struct Link {
    pub ep: LwkEndpoint<'static>,
    pub waiter: TscWaiter,
    /// Channel failures reported so far (one line each, then counted).
    failures: u64,
}

impl Link {
    /// Formats the shared buffer of `bytes` mapped at `IVSHMEM_VADDR`.
    pub fn format(bytes: u64) -> Result<Link, ChannelError> {
        // SAFETY: the personality mapped `bytes` of the ivshmem BAR at
        // IVSHMEM_VADDR read-write (directmap::map_ivshmem) and never
        // unmaps it; nothing else in this address space uses that range.
        let region = unsafe { Region::new(IVSHMEM_VADDR as *mut u8, bytes as usize) }?;
        Ok(Link {
            ep: LwkEndpoint::format(region),
            waiter: TscWaiter,
            failures: 0,
        })
    }

    /// Ships one call of job `job` and waits for its answer.
    pub fn call(
        &mut self,
        job: JobId,
        s: Shipped<'_>,
        reply: &mut [u8],
    ) -> Result<(u64, usize), Errno> {
        let mut call = Call::new(job, s.op);
        call.args = s.args;
        LAST.store((s.op as u64) << 1 | 1, Ordering::Relaxed);
        let r = self
            .ep
            .io
            .call(call, s.data, reply, &mut self.waiter, CALL_TIMEOUT);
        LAST.store((s.op as u64) << 1, Ordering::Relaxed);
        match r {
            Ok(r) => match r.outcome() {
                Ok(v) => Ok((v, (r.data_len as usize).min(reply.len()))),
                Err(e) => Err(Errno::from_code(e.get() as i32).unwrap_or(Errno::EIO)),
            },
            Err(e) => {
                self.failures += 1;
                if self.failures <= 3 {
                    println!(
                        "link: {:?} for job {}: {e:?}; the program gets EIO",
                        s.op, job.0
                    );
                }
                Err(Errno::EIO)
            }
        }
    }

    /// Sends a message that needs no answer's data (job exit); waits a
    /// little for the answer so the daemon has seen it before the next job.
    pub fn notify(&mut self, call: Call) -> Result<(), ChannelError> {
        self.ep
            .io
            .call(call, &[], &mut [], &mut self.waiter, Duration::from_secs(5))
            .map(drop)
    }
}
