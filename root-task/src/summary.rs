//! The bootinfo summary printed at boot.

use sel4::bootinfo::BootInfo;
use sel4_root_task::println;

/// Totals over the untyped list.
#[derive(Debug, Default, Clone, Copy)]
pub struct UntypedTotals {
    pub ram_count: usize,
    pub ram_bytes: u64,
    pub device_count: usize,
    pub device_bytes: u64,
    pub largest_ram_bits: u8,
    pub largest_ram_paddr: u64,
}

pub fn totals(bi: &BootInfo) -> UntypedTotals {
    let mut t = UntypedTotals::default();
    for u in bi.untyped_list() {
        if u.is_device {
            t.device_count += 1;
            t.device_bytes = t.device_bytes.saturating_add(u.size());
        } else {
            t.ram_count += 1;
            t.ram_bytes += u.size();
            if u.size_bits > t.largest_ram_bits {
                t.largest_ram_bits = u.size_bits;
                t.largest_ram_paddr = u.paddr;
            }
        }
    }
    t
}

pub fn print(bi: &BootInfo) {
    let t = totals(bi);
    let empty = bi.empty();
    println!(
        "bootinfo: nodes={} tsc_mhz={} cnode_slots=2^{}",
        bi.num_nodes(),
        bi.tsc_mhz(),
        bi.init_thread_cnode_size_bits()
    );
    println!(
        "bootinfo: ram_untypeds={} ram_bytes={} ({} MiB) device_untypeds={} device_bytes={:#x}",
        t.ram_count,
        t.ram_bytes,
        t.ram_bytes >> 20,
        t.device_count,
        t.device_bytes
    );
    println!(
        "bootinfo: largest_ram_untyped=2^{} at {:#x}; empty_slots=[{}, {}) ({} free)",
        t.largest_ram_bits,
        t.largest_ram_paddr,
        empty.start,
        empty.end,
        empty.len()
    );
    println!(
        "bootinfo: image_frames={} image_paging={} ipc_buffer={:#x} iopt_levels={}",
        bi.user_image_frames().len(),
        bi.user_image_paging().len(),
        bi.ipc_buffer(),
        bi.num_iopt_levels()
    );
}
