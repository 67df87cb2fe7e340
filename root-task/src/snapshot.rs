//! The kernel's own view of the system, for `cargo xtask capdl witness`.
//!
//! On a debug kernel, when the host asks for it with the fw_cfg file
//! [`REQUEST`] (`-fw_cfg name=opt/lwk/capdl-snapshot,string=1`), the root
//! task calls `seL4_DebugSnapshot` right after printing its capDL spec. In
//! seL4 5.0 that prints nothing: the kernel enters its interactive capDL
//! query protocol on the debug serial port (COM1) and answers the host's
//! queries until the host says DONE, then returns. Without the request the
//! call is never made: the kernel would wait on COM1 forever.

use sel4::cap_type::IoPort;
use sel4::Cap;
use sel4_root_task::println;

/// The fw_cfg file whose presence asks for the snapshot.
pub const REQUEST: &str = "opt/lwk/capdl-snapshot";

const SELECTOR: u64 = 0x510;
const DATA: u16 = 0x511;
const SEL_SIGNATURE: u64 = 0x0000;
const SEL_FILE_DIR: u64 = 0x0019;

/// Whether QEMU's fw_cfg holds a file named `name` (false without fw_cfg).
fn fw_cfg_has(port: Cap<IoPort>, name: &str) -> bool {
    let read = |buf: &mut [u8]| -> bool {
        buf.iter_mut()
            .all(|b| port.io_port_in8(DATA).map(|v| *b = v).is_ok())
    };
    let mut sig = [0u8; 4];
    if port.io_port_out16(SELECTOR, SEL_SIGNATURE).is_err() || !read(&mut sig) || &sig != b"QEMU" {
        return false;
    }
    let mut n = [0u8; 4];
    if port.io_port_out16(SELECTOR, SEL_FILE_DIR).is_err() || !read(&mut n) {
        return false;
    }
    (0..u32::from_be_bytes(n).min(4096)).any(|_| {
        let mut e = [0u8; 64];
        if !read(&mut e) {
            return false;
        }
        let fname = &e[8..];
        let len = fname.iter().position(|&c| c == 0).unwrap_or(fname.len());
        &fname[..len] == name.as_bytes()
    })
}

/// Takes the snapshot if this is a debug kernel and the host asked.
pub fn take_if_requested(port: Cap<IoPort>) {
    if !sel4::config::DEBUG_BUILD || !fw_cfg_has(port, REQUEST) {
        return;
    }
    println!("CAPDL-SNAPSHOT: entering the kernel's capDL dump on the debug serial port");
    if sel4::debug_snapshot() {
        println!("CAPDL-SNAPSHOT-DONE");
    }
}
