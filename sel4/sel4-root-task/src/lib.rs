//! Runtime for seL4 root tasks (and, later, other components).
//!
//! What `_start` does, in order:
//! 1. The kernel enters at the ELF entry with RDI = bootinfo pointer and no
//!    stack: `_start` points RSP at a static 256 KiB stack and calls Rust.
//! 2. Rust initialises the heap (a static arena) and the `log` backend.
//! 3. For a root task ([`declare_root_task!`]) it parses the bootinfo
//!    ([`sel4::bootinfo::BootInfo`]), stores the IPC buffer address in its
//!    `userData` word (libsel4's convention), sets up TSC time and the COM1
//!    console; a component started by the root task
//!    ([`declare_component!`]) gets RDI as its argument and does its own.
//! 4. It calls `main`, which returns only with an error, printed before the
//!    thread stops.
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
/// `main` has the signature `fn(&'static sel4::bootinfo::BootInfo<'static>)
/// -> Result<Never, E>` with `E: core::fmt::Display`; an error is printed as
/// `ROOT-TASK-FAIL <error>`.
#[macro_export]
macro_rules! declare_root_task {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn __sel4_component_main(arg: u64) -> ! {
            let bi = $crate::_private::root_task_start(arg);
            match $main(bi) {
                Ok(never) => match never {},
                Err(e) => $crate::_private::fail(&e),
            }
        }
    };
}

/// Registers `main` as the body of a component started by the root task.
///
/// `main` has the signature `fn(u64) -> Result<Never, E>`: it receives RDI
/// as set by its creator and must set up its console (`console::use_io_port`)
/// and time (`time::init_mhz`) itself; an error is printed as
/// `COMPONENT-FAIL <error>`.
#[macro_export]
macro_rules! declare_component {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn __sel4_component_main(arg: u64) -> ! {
            match $main(arg) {
                Ok(never) => match never {},
                Err(e) => $crate::_private::component_fail(&e),
            }
        }
    };
}

#[doc(hidden)]
pub mod _private {
    pub use crate::entry::root_task_start;

    /// Reports a fatal error of a component's `main` and parks the thread.
    pub fn component_fail(e: &dyn core::fmt::Display) -> ! {
        crate::console::println(format_args!("COMPONENT-FAIL {e}"));
        crate::park()
    }

    /// Reports a fatal error of `main` and parks the thread.
    pub fn fail(e: &dyn core::fmt::Display) -> ! {
        crate::console::println(format_args!("ROOT-TASK-FAIL {e}"));
        crate::park()
    }
}

/// Stops the calling thread for good: suspends the root thread, or yields
/// forever for others (a thread cannot always name its own TCB).
pub fn park() -> ! {
    if entry::on_initial_thread() {
        let _ = sel4::init_caps::TCB.tcb_suspend();
    }
    loop {
        sel4::yield_now();
    }
}
