//! The calling thread's IPC buffer.
//!
//! On x86_64 the kernel loads the GS base with the thread's IPC buffer
//! address on every return to user mode, so GS-relative moves reach the
//! current thread's buffer without any thread-local storage of our own.
//! Layout (`seL4_IPCBuffer`): tag, msg[120], userData, caps_or_badges[3],
//! receiveCNode, receiveIndex, receiveDepth — 128 words.

use crate::{Word, MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH};
use core::arch::asm;

const MSG: usize = 8;
const USER_DATA: usize = MSG + 8 * MSG_MAX_LENGTH;
const CAPS: usize = USER_DATA + 8;
const RECEIVE_CNODE: usize = CAPS + 8 * MSG_MAX_EXTRA_CAPS;
const RECEIVE_INDEX: usize = RECEIVE_CNODE + 8;
const RECEIVE_DEPTH: usize = RECEIVE_INDEX + 8;
const _: () = assert!(RECEIVE_DEPTH + 8 == 1024);

fn read(off: usize) -> Word {
    let v: Word;
    // SAFETY: GS points at this thread's IPC buffer (mapped by whoever
    // configured the thread, 1024 bytes); callers pass only offsets below
    // 1024 (checked by the index asserts of the public functions).
    unsafe {
        asm!("mov {v}, qword ptr gs:[{o}]", v = out(reg) v, o = in(reg) off, options(nostack, readonly, preserves_flags))
    };
    v
}

fn write(off: usize, v: Word) {
    // SAFETY: as in `read`; the IPC buffer is ordinary writable memory of
    // this thread.
    unsafe {
        asm!("mov qword ptr gs:[{o}], {v}", v = in(reg) v, o = in(reg) off, options(nostack, preserves_flags))
    };
}

/// `seL4_GetMR`.
pub fn get_mr(i: usize) -> Word {
    assert!(i < MSG_MAX_LENGTH);
    read(MSG + 8 * i)
}

/// `seL4_SetMR`.
pub fn set_mr(i: usize, v: Word) {
    assert!(i < MSG_MAX_LENGTH);
    write(MSG + 8 * i, v)
}

/// `seL4_SetCap`: an extra cap to send.
pub fn set_cap(i: usize, cptr: Word) {
    assert!(i < MSG_MAX_EXTRA_CAPS);
    write(CAPS + 8 * i, cptr)
}

/// `seL4_GetBadge`: badge of an unwrapped received cap.
pub fn get_badge(i: usize) -> Word {
    assert!(i < MSG_MAX_EXTRA_CAPS);
    read(CAPS + 8 * i)
}

/// `seL4_GetUserData` (by convention the buffer's own address).
pub fn user_data() -> Word {
    read(USER_DATA)
}

/// `seL4_SetUserData`.
pub fn set_user_data(v: Word) {
    write(USER_DATA, v)
}

/// `seL4_SetCapReceivePath`: where received caps go.
pub fn set_receive_path(cnode: Word, index: Word, depth: Word) {
    write(RECEIVE_CNODE, cnode);
    write(RECEIVE_INDEX, index);
    write(RECEIVE_DEPTH, depth);
}
