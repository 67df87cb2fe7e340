//! Process entry: stack, heap, logger, then the component's `main`.

use core::sync::atomic::{AtomicU64, Ordering};
use sel4::bootinfo::BootInfo;

/// The type of a `main` that never returns normally.
pub enum Never {}

const STACK_SIZE: usize = 256 * 1024;

// The kernel starts the root task with no stack, and the root task starts
// components the same way: give the initial thread one from .bss.
core::arch::global_asm!(
    ".section .bss.root_task_stack, \"aw\", @nobits",
    ".balign 4096",
    "__root_task_stack_bottom:",
    ".space {size}",
    "__root_task_stack_top:",
    ".section .text._start, \"ax\", @progbits",
    ".global _start",
    "_start:",
    "    lea rsp, [rip + __root_task_stack_top]",
    "    xor ebp, ebp",
    "    call {entry}",
    "    ud2",
    size = const STACK_SIZE,
    entry = sym rust_entry,
);

extern "C" {
    static __root_task_stack_bottom: u8;
    static __root_task_stack_top: u8;
}

/// (bottom, top) of the initial thread's stack, for diagnostics.
pub fn stack_bounds() -> (usize, usize) {
    // Only the addresses of the linker-defined symbols are taken.
    (
        &raw const __root_task_stack_bottom as usize,
        &raw const __root_task_stack_top as usize,
    )
}

static STARTED: AtomicU64 = AtomicU64::new(0);

/// True on the initial thread (its stack is the static one).
pub(crate) fn on_initial_thread() -> bool {
    let sp: u64;
    // SAFETY: reads RSP only.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    let (lo, hi) = stack_bounds();
    sp >= lo as u64 && sp <= hi as u64 && STARTED.load(Ordering::Relaxed) != 0
}

extern "C" {
    /// Defined by `declare_root_task!` or `declare_component!`.
    fn __sel4_component_main(arg: u64) -> !;
}

/// RDI at entry: the bootinfo pointer for the root task, the component's
/// start argument otherwise.
extern "C" fn rust_entry(arg: u64) -> ! {
    STARTED.store(1, Ordering::Relaxed);
    crate::heap::init();
    crate::logger::init();
    // SAFETY: defined by the declaring macro in the binary.
    unsafe { __sel4_component_main(arg) }
}

/// Root-task start: parses the bootinfo at `ptr`, records the IPC buffer
/// address in its `userData` word (libsel4's convention), sets up time and
/// the COM1 console, and returns the bootinfo for the rest of the run.
pub fn root_task_start(ptr: u64) -> &'static BootInfo<'static> {
    // SAFETY: RDI at the root task's entry is the kernel's bootinfo
    // pointer, mapped read-only for the root task for its whole life.
    let bi = match unsafe { BootInfo::from_ptr(ptr as *const u8) } {
        Ok(bi) => bi,
        Err(e) => crate::_private::fail(&DisplayDebug(e)),
    };
    sel4::arch::ipc_buffer::set_user_data(bi.ipc_buffer());
    crate::time::init(bi.tsc_mhz());
    crate::console::use_io_port(sel4::init_caps::IO_PORT);
    static BI: spin_once::Once = spin_once::Once::new();
    BI.set(bi)
}

struct DisplayDebug<T: core::fmt::Debug>(T);
impl<T: core::fmt::Debug> core::fmt::Display for DisplayDebug<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "bad bootinfo: {:?}", self.0)
    }
}

/// A set-once cell for the bootinfo (written once, before any other thread
/// exists).
mod spin_once {
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicBool, Ordering};
    use sel4::bootinfo::BootInfo;

    pub struct Once {
        set: AtomicBool,
        val: UnsafeCell<Option<BootInfo<'static>>>,
    }
    // SAFETY: written once by the only thread, before others start; read-only after.
    unsafe impl Sync for Once {}
    impl Once {
        pub const fn new() -> Self {
            Once {
                set: AtomicBool::new(false),
                val: UnsafeCell::new(None),
            }
        }
        pub fn set(&'static self, v: BootInfo<'static>) -> &'static BootInfo<'static> {
            assert!(!self.set.swap(true, Ordering::AcqRel), "bootinfo set twice");
            // SAFETY: the flag guarantees a single writer and no reader yet.
            unsafe {
                *self.val.get() = Some(v);
                (*self.val.get()).as_ref().unwrap_unchecked()
            }
        }
    }
}
