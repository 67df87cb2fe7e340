//! The console: one line at a time, from any thread.
//!
//! On debug kernels characters go through `seL4_DebugPutChar` (the kernel's
//! own serial driver). Release kernels have no debug syscalls, so we drive
//! the 16550 UART at COM1 (0x3f8) through an IOPort capability: the root
//! task holds the cap to every port; a component can be given one that
//! covers only COM1.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use sel4::cap_type::IoPort;
use sel4::Cap;

const COM1: u64 = 0x3f8;
/// Line status register: bit 5 = transmit holding register empty.
const COM1_LSR: u16 = 0x3fd;

static PORT_CAP: AtomicU64 = AtomicU64::new(0);
static LOCK: AtomicBool = AtomicBool::new(false);

/// Prints through `cap` (which must cover 0x3f8–0x3fd) on release kernels.
pub fn use_io_port(cap: Cap<IoPort>) {
    PORT_CAP.store(cap.bits(), Ordering::Release);
}

fn putc(b: u8) {
    if sel4::config::DEBUG_BUILD {
        sel4::debug_put_char(b);
        return;
    }
    let cap = PORT_CAP.load(Ordering::Acquire);
    if cap == 0 {
        return;
    }
    let port = Cap::<IoPort>::from_bits(cap);
    // Bounded wait for the transmitter: QEMU's UART is always ready, real
    // ones drain in microseconds; never hang the system on a missing UART.
    for _ in 0..10_000 {
        match port.io_port_in8(COM1_LSR) {
            Ok(lsr) if lsr & 0x20 != 0 => break,
            Ok(_) => core::hint::spin_loop(),
            Err(_) => return,
        }
    }
    let _ = port.io_port_out8(COM1, b as u64);
}

struct Raw;

impl Write for Raw {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                putc(b'\r');
            }
            putc(b);
        }
        Ok(())
    }
}

/// Holds the console for one line. A spin lock, not a notification mutex:
/// it must work before any kernel object exists and inside the panic
/// handler. Lines are short, so contention is brief.
struct Guard;

impl Guard {
    fn take() -> Guard {
        let mut spins = 0u32;
        while LOCK
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins.is_multiple_of(64) {
                // Let a preempted holder on this core run.
                sel4::yield_now();
            }
            core::hint::spin_loop();
        }
        Guard
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        LOCK.store(false, Ordering::Release);
    }
}

/// Prints one line (a newline is added) atomically with respect to other
/// threads.
pub fn println(args: fmt::Arguments) {
    let _g = Guard::take();
    let _ = Raw.write_fmt(args);
    let _ = Raw.write_str("\n");
}

/// Prints without taking the lock: for the panic handler, which must not
/// deadlock if the panicking thread held the console.
pub fn println_unlocked(args: fmt::Arguments) {
    let _ = Raw.write_fmt(args);
    let _ = Raw.write_str("\n");
}

/// `println!` for components.
#[macro_export]
macro_rules! println {
    () => { $crate::console::println(format_args!("")) };
    ($($arg:tt)*) => { $crate::console::println(format_args!($($arg)*)) };
}
