//! Time from the TSC, calibrated by the kernel at boot (bootinfo
//! `archInfo`, MHz). Every wait in the system is bounded with a [`Deadline`].

use core::sync::atomic::{AtomicU64, Ordering};

static TSC_MHZ: AtomicU64 = AtomicU64::new(0);

pub(crate) fn init(mhz: u64) {
    TSC_MHZ.store(mhz.max(1), Ordering::Relaxed);
}

/// Sets the TSC frequency (components learn it from their creator).
pub fn init_mhz(mhz: u64) {
    init(mhz)
}

/// The TSC frequency in MHz.
pub fn tsc_mhz() -> u64 {
    TSC_MHZ.load(Ordering::Relaxed).max(1)
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects; user mode may execute it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Nanoseconds since boot (TSC based).
pub fn now_ns() -> u64 {
    (rdtsc() as u128 * 1000 / tsc_mhz() as u128) as u64
}

/// A point in time after which a wait gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(u64);

impl Deadline {
    pub fn after_ms(ms: u64) -> Self {
        Deadline(rdtsc().saturating_add(ms.saturating_mul(tsc_mhz()).saturating_mul(1000)))
    }
    pub fn expired(&self) -> bool {
        rdtsc() >= self.0
    }
}
