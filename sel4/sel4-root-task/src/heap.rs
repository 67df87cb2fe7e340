//! The global allocator: a first-fit free list over a static arena.
//!
//! A root task allocates little (tables, a few vectors); 1 MiB of .bss is
//! plenty and needs no kernel objects before the allocator works.

use linked_list_allocator::LockedHeap;

#[cfg(not(feature = "large-heap"))]
const HEAP_SIZE: usize = 1 << 20;
/// The root task describes the whole system (the capDL spec of thousands of
/// objects) and lives in memory the kernel gave it, outside the reserve.
#[cfg(feature = "large-heap")]
const HEAP_SIZE: usize = 8 << 20;

#[repr(C, align(4096))]
struct Arena([u8; HEAP_SIZE]);

static mut ARENA: Arena = Arena([0; HEAP_SIZE]);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

pub(crate) fn init() {
    // SAFETY: called once, first thing in `rust_entry`, before any
    // allocation and before other threads exist; the arena is used by
    // nothing else.
    unsafe { HEAP.lock().init(&raw mut ARENA as *mut u8, HEAP_SIZE) };
}
