//! Panics print where and why, then park the thread (panic = abort: there
//! is no unwinding).

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::console::println_unlocked(format_args!("PANIC: {info}"));
    crate::park()
}

// The prebuilt `core`/`alloc` of the host target were compiled with
// unwinding; with panic=abort these are never called but must link.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[no_mangle]
extern "C" fn _Unwind_Resume() -> ! {
    crate::park()
}
