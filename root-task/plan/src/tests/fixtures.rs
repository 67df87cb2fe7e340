//! Untyped lists as seL4 5.0 x86_64 would hand them out on various machines.
//!
//! Built the way the kernel builds them (`create_untypeds` in
//! `src/arch/x86/kernel/boot.c`): first RAM untypeds — the freed boot code
//! `[PADDR_LOAD, ki_boot_end)`, then each free region — then device untypeds
//! for every gap between RAM regions up to 2^47. Each region is cut into
//! maximal naturally aligned power-of-two blocks (`create_untypeds_for_region`
//! in `src/kernel/boot.c`).
//!
//! The layouts follow a QEMU pc boot: usable RAM from 1 MiB (the kernel
//! ignores RAM below `HIGHMEM_PADDR`), SeaBIOS reserving the top 128 KiB of
//! low RAM for ACPI, the kernel image at 1 MiB, the root task after it, and
//! the root server objects (CNode, VSpace, TCB, bootinfo...) best-fit at the
//! end of a free region. Addresses of the images are plausible, not
//! recorded.

use crate::{Untyped, MAX_UNTYPED_BITS, MIN_UNTYPED_BITS};

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// Where the freed boot code ends; the kernel image proper follows.
const BOOT_END: u64 = 0x10e000;
/// Where the loaded root task image ends: free memory starts here.
const UI_END: u64 = 0x3c1000;
/// The root server objects below a region end aligned to 2^17.
const ROOTSERVER_BYTES: u64 = 0x2b000;

/// `create_untypeds_for_region`: `[start, end)` as maximal aligned blocks.
pub fn decompose(mut start: u64, end: u64) -> Vec<(u64, u8)> {
    let mut out = Vec::new();
    while start < end {
        let mut bits = (63 - (end - start).leading_zeros()) as u8;
        if start != 0 {
            bits = bits.min(start.trailing_zeros() as u8);
        }
        bits = bits.min(MAX_UNTYPED_BITS);
        if bits >= MIN_UNTYPED_BITS {
            out.push((start, bits));
        }
        start += 1 << bits;
    }
    out
}

/// The untyped list for `free` RAM regions (in the kernel's order) on a
/// machine whose RAM regions (the kernel's allocated regions, sorted) are
/// `ram`: device untypeds fill every gap of `ram` up to 2^47.
pub fn machine(free: &[(u64, u64)], ram: &[(u64, u64)]) -> Vec<Untyped> {
    let mut list = Vec::new();
    let mut push = |(paddr, size_bits): (u64, u8), is_device| {
        list.push(Untyped {
            index: list.len(),
            paddr,
            size_bits,
            is_device,
        })
    };
    for &(start, end) in free {
        decompose(start, end)
            .into_iter()
            .for_each(|b| push(b, false));
    }
    let mut cursor = 0;
    for &(start, end) in ram {
        decompose(cursor, start)
            .into_iter()
            .for_each(|b| push(b, true));
        cursor = end;
    }
    decompose(cursor, 1 << MAX_UNTYPED_BITS)
        .into_iter()
        .for_each(|b| push(b, true));
    list
}

/// A QEMU pc machine with usable RAM `[1 MiB, low_top)` (plus `high` above
/// 4 GiB), the root server objects at the end of the region a best-fit
/// allocator picks (`rootserver_in_high` says which).
fn qemu(low_top: u64, high: Option<(u64, u64)>) -> Vec<Untyped> {
    let mut ram = vec![(MIB, low_top)];
    let mut free = vec![(MIB, BOOT_END)];
    match high {
        Some((start, end)) => {
            ram.push((start, end));
            free.push((UI_END, low_top));
            free.push((start, end - ROOTSERVER_BYTES));
        }
        None => free.push((UI_END, low_top - ROOTSERVER_BYTES)),
    }
    machine(&free, &ram)
}

/// `-m 512M`: RAM to 0x1ffe0000, about 30 RAM untypeds up to 2^27.
pub fn qemu_512m() -> Vec<Untyped> {
    qemu(0x1ffe_0000, None)
}

/// `-m 32M`: little RAM.
pub fn qemu_32m() -> Vec<Untyped> {
    qemu(0x01fe_0000, None)
}

/// A 2 GiB machine whose RAM ends at exactly 2 GiB and whose root server
/// objects sit low, right after the root task image: 2^29 at 0x20000000 and
/// 2^30 at 0x40000000 survive whole.
pub fn machine_2g() -> Vec<Untyped> {
    let ram = [(MIB, 2 * GIB)];
    machine(
        &[(MIB, BOOT_END), (UI_END + ROOTSERVER_BYTES, 2 * GIB)],
        &ram,
    )
}

/// `-m 2G` as QEMU pc really lays it out: RAM to 0x7ffe0000 with the root
/// server objects at its end, so no untyped is 1 GiB-aligned and large.
pub fn qemu_2g() -> Vec<Untyped> {
    qemu(0x7ffe_0000, None)
}

/// `-m 4G`: RAM to 0xC0000000, the PCI hole, RAM 0x100000000..0x140000000
/// (the root server objects best-fit at the high region's end).
pub fn qemu_4g() -> Vec<Untyped> {
    qemu(0xc000_0000, Some((4 * GIB, 5 * GIB)))
}

/// RAM only in islands of 14 MiB every 16 MiB: many 2..8 MiB untypeds and
/// small ones, nothing near 1 GiB.
pub fn fragmented() -> Vec<Untyped> {
    let free: Vec<(u64, u64)> = (1..48u64)
        .map(|k| (k * 16 * MIB + 0x5000, k * 16 * MIB + 14 * MIB + 0x3000))
        .collect();
    let ram: Vec<(u64, u64)> = free.iter().map(|&(s, e)| (s & !0xfff, e)).collect();
    machine(&free, &ram)
}

/// 64 MiB of RAM in islands that never hold an aligned 2 MiB block.
pub fn shattered() -> Vec<Untyped> {
    let free: Vec<(u64, u64)> = (1..33u64)
        .map(|k| (k * 4 * MIB + 0x1000, k * 4 * MIB + 2 * MIB + 0x1000))
        .collect();
    machine(&free, &free)
}

/// A machine whose untyped list has no RAM at all.
pub fn devices_only() -> Vec<Untyped> {
    machine(&[], &[(MIB, 64 * MIB)])
}

/// One 8 GiB RAM untyped at 8 GiB and nothing else.
pub fn single_8g() -> Vec<Untyped> {
    vec![Untyped {
        index: 0,
        paddr: 8 * GIB,
        size_bits: 33,
        is_device: false,
    }]
}

/// RAM bytes in a list.
pub fn ram_bytes(list: &[Untyped]) -> u64 {
    list.iter()
        .filter(|u| !u.is_device)
        .map(Untyped::size)
        .sum()
}

/// A small deterministic generator (xorshift64*) for randomised lists.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random disjoint free regions below 2^36, page-granular, as a machine.
pub fn random_machine(rng: &mut Rng) -> Vec<Untyped> {
    let mut free = Vec::new();
    let mut cursor = MIB;
    for _ in 0..1 + rng.below(12) {
        let gap = rng.below(4) * (rng.below(3 * GIB) & !0xfff);
        let len = match rng.below(4) {
            0 => rng.below(2 * MIB),
            1 => rng.below(64 * MIB),
            2 => rng.below(4 * GIB),
            _ => 1 << (21 + rng.below(12)),
        } & !0xfff;
        let start = cursor + gap;
        if len == 0 || start + len > 1 << 36 {
            continue;
        }
        free.push((start, start + len));
        cursor = start + len + 0x1000;
    }
    machine(&free, &free)
}
