//! Runtime for seL4 root tasks (and, later, other components).
//!
//! What `_start` does, in order:
//! 1. The kernel enters at the ELF entry with RDI = bootinfo pointer and no
//!    stack: `_start` points RSP at a static 256 KiB stack and calls Rust.
//! 2. Rust parses the bootinfo ([`sel4::bootinfo::BootInfo`]), stores the
//!    IPC buffer address in its `userData` word (libsel4's convention), and
//!    initialises the heap (a static arena) and the `log` backend.
//! 3. It calls the `main` registered with [`declare_root_task!`]; `main`
//!    returns only with an error, which is printed before the thread stops.
//!
//! Also here: the console (debug syscall on debug kernels, COM1 through an
//! IOPort cap on release kernels), the panic handler, and the `mem*`
//! functions the compiler expects (no libc). Build flags and the linker
//! script (`link.ld`) come from the xtask and the binary's build.rs.

#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod console;
mod entry;
mod heap;
mod logger;
mod mem;
mod panic;
pub mod time;

pub use entry::{stack_bounds, Never};

/// Registers `main` as the root task's body.
///
/// `main` has the signature `fn(&sel4::bootinfo::BootInfo<'static>) ->
/// Result<Never, E>` with `E: core::fmt::Display`.
#[macro_export]
macro_rules! declare_root_task {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn __sel4_root_task_main(bi: *const sel4::bootinfo::BootInfo<'static>) -> ! {
            // SAFETY: the runtime passes a pointer to its 'static bootinfo.
            let bi: &'static sel4::bootinfo::BootInfo<'static> = unsafe { &*bi };
            match $main(bi) {
                Ok(never) => match never {},
                Err(e) => $crate::_private::fail(&e),
            }
        }
    };
}

#[doc(hidden)]
pub mod _private {
    /// Reports a fatal error of `main` and parks the thread.
    pub fn fail(e: &dyn core::fmt::Display) -> ! {
        crate::console::println(format_args!("ROOT-TASK-FAIL {e}"));
        crate::park()
    }
}

/// Stops the calling thread for good: suspends the root thread, or yields
/// forever for others (a thread cannot always name its own TCB).
pub fn park() -> ! {
    if entry::on_root_thread() {
        let _ = sel4::init_caps::TCB.tcb_suspend();
    }
    loop {
        sel4::yield_now();
    }
}
