//! Helpers shared by the integration tests: a heap region, waiters, a PRNG,
//! and byte-level access to the region, playing a peer that writes anything.
#![allow(dead_code)]

use std::mem::{offset_of, size_of};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use channel::wire::{RegionHeader, RingControl, RingId, REGION_SIZE};
use channel::{backoff_ns, Region, Waiter};

/// A zeroed heap buffer standing in for the ivshmem mapping.
pub struct Mem(Vec<AtomicU64>);

impl Mem {
    pub fn new() -> Self {
        Mem((0..REGION_SIZE / 8).map(|_| AtomicU64::new(0)).collect())
    }

    pub fn region(&self) -> Region<'_> {
        Region::from_words(&self.0).unwrap()
    }

    pub fn load_u64(&self, offset: usize) -> u64 {
        assert_eq!(offset % 8, 0);
        self.0[offset / 8].load(SeqCst)
    }

    pub fn store_u64(&self, offset: usize, value: u64) {
        assert_eq!(offset % 8, 0);
        self.0[offset / 8].store(value, SeqCst);
    }

    /// A 32-bit field, through the word that holds it (little-endian).
    pub fn load_u32(&self, offset: usize) -> u32 {
        (self.load_u64(offset & !7) >> ((offset & 4) * 8)) as u32
    }

    pub fn store_u32(&self, offset: usize, value: u32) {
        let shift = (offset & 4) * 8;
        let word = self.load_u64(offset & !7) & !(0xffff_ffffu64 << shift);
        self.store_u64(offset & !7, word | (u64::from(value) << shift));
    }
}

/// Byte offset of a ring's `head` in the region.
pub fn head_offset(ring: RingId) -> usize {
    offset_of!(RegionHeader, controls) + ring as usize * size_of::<RingControl>()
}

/// Byte offset of a ring's `tail` in the region.
pub fn tail_offset(ring: RingId) -> usize {
    head_offset(ring) + offset_of!(RingControl, tail)
}

/// Byte offset of the slot that ring index `index` uses.
pub fn slot_offset(ring: RingId, index: u32) -> usize {
    let l = ring.layout();
    l.slots_offset + (index & (l.slot_count - 1)) as usize * l.slot_size as usize
}

/// A clock that moves only when the channel relaxes: timeouts are exact and
/// instant.
pub struct FakeClock(pub u64);

impl Waiter for FakeClock {
    fn now_ns(&self) -> u64 {
        self.0
    }
    fn relax(&mut self, round: u32) {
        self.0 += backoff_ns(round);
    }
}

/// Real time: yields for a while, then sleeps with back-off.
pub struct RealTime(Instant);

impl RealTime {
    pub fn new() -> Self {
        RealTime(Instant::now())
    }
}

impl Waiter for RealTime {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
    fn relax(&mut self, round: u32) {
        if round < 8 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_nanos(backoff_ns(round - 8)));
        }
    }
}

/// splitmix64: small, seedable, good enough to drive tests reproducibly.
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), near enough.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The seed from `CHANNEL_TEST_SEED`, or a fixed one; printed so a failure
/// can be replayed.
pub fn seed() -> u64 {
    let seed = std::env::var("CHANNEL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1e55);
    eprintln!("CHANNEL_TEST_SEED={seed}");
    seed
}

/// A test deadline, so a protocol bug fails the test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(30);
