//! seL4 system calls through the `syscall` instruction.
//!
//! ABI (5.0.0, x86_64, `CONFIG_SYSCALL`): RDX = syscall number, RDI = cap or
//! badge, RSI = message info, R10, R8, R9, R15 = message registers 0..3; RCX
//! and R11 are clobbered by the instruction. The kernel does not preserve
//! RSP across `syscall` (it returns with RSP = 0), so the stub keeps RSP in
//! R14 — libsel4 uses RBX, which Rust's `asm!` cannot name.

use crate::cptr::{Cap, CapType};
use crate::syscall_ids::*;
use crate::{MessageInfo, Word};
use core::arch::asm;

/// Raw syscall with four in/out message registers.
/// Returns (RDI = badge/dest, RSI = message info).
#[inline(always)]
fn raw(sys: isize, dest: Word, info: Word, mrs: &mut [Word; 4]) -> (Word, Word) {
    let badge: Word;
    let out_info: Word;
    // SAFETY: the kernel only reads the registers named here and writes
    // back RDI, RSI and the four message registers; RCX and R11 are
    // clobbered by `syscall` itself, R14 holds RSP across the instruction
    // and RSP is restored from it before any stack use. Memory may be
    // read or written by the kernel only through the IPC buffer, which
    // `asm!` already treats as clobbered memory (no `nomem`).
    unsafe {
        asm!(
            "mov r14, rsp",
            "syscall",
            "mov rsp, r14",
            inout("rdx") sys as Word => _,
            inout("rdi") dest => badge,
            inout("rsi") info => out_info,
            inout("r10") mrs[0],
            inout("r8") mrs[1],
            inout("r9") mrs[2],
            inout("r15") mrs[3],
            out("rcx") _,
            out("r11") _,
            out("r14") _,
        );
    }
    (badge, out_info)
}

/// `seL4_Call` with the first four message registers passed in registers
/// (the rest are in the IPC buffer). On return `mrs` holds the reply's first
/// four message registers.
pub fn call<T: CapType>(dest: Cap<T>, info: MessageInfo, mrs: &mut [Word; 4]) -> MessageInfo {
    MessageInfo(raw(SysCall, dest.bits(), info.0, mrs).1)
}

/// `seL4_Send`.
pub fn send<T: CapType>(dest: Cap<T>, info: MessageInfo, mrs: &[Word; 4]) {
    let mut m = *mrs;
    raw(SysSend, dest.bits(), info.0, &mut m);
}

/// `seL4_NBSend`: drops the message if nobody waits.
pub fn nb_send<T: CapType>(dest: Cap<T>, info: MessageInfo, mrs: &[Word; 4]) {
    let mut m = *mrs;
    raw(SysNBSend, dest.bits(), info.0, &mut m);
}

/// `seL4_Recv`: blocks; returns the message info and the sender's badge.
pub fn recv<T: CapType>(src: Cap<T>, mrs: &mut [Word; 4]) -> (MessageInfo, Word) {
    let (badge, info) = raw(SysRecv, src.bits(), 0, mrs);
    (MessageInfo(info), badge)
}

/// `seL4_NBRecv`: polls.
pub fn nb_recv<T: CapType>(src: Cap<T>, mrs: &mut [Word; 4]) -> (MessageInfo, Word) {
    let (badge, info) = raw(SysNBRecv, src.bits(), 0, mrs);
    (MessageInfo(info), badge)
}

/// `seL4_Reply` to the last caller.
pub fn reply(info: MessageInfo, mrs: &[Word; 4]) {
    let mut m = *mrs;
    raw(SysReply, 0, info.0, &mut m);
}

/// `seL4_ReplyRecv`: reply to the last caller, then wait on `src`.
pub fn reply_recv<T: CapType>(
    src: Cap<T>,
    info: MessageInfo,
    mrs: &mut [Word; 4],
) -> (MessageInfo, Word) {
    let (badge, out) = raw(SysReplyRecv, src.bits(), info.0, mrs);
    (MessageInfo(out), badge)
}

/// `seL4_Yield`.
pub fn yield_now() {
    raw(SysYield, 0, 0, &mut [0; 4]);
}

/// `seL4_DebugPutChar` on debug kernels; returns false (and does nothing) on
/// release kernels, which have no debug syscalls.
pub fn debug_put_char(c: u8) -> bool {
    #[cfg(sel4_debug)]
    {
        raw(SysDebugPutChar, c as Word, 0, &mut [0; 4]);
        true
    }
    #[cfg(not(sel4_debug))]
    {
        let _ = c;
        false
    }
}

/// `seL4_DebugHalt` on debug kernels; returns on release kernels.
pub fn debug_halt() {
    #[cfg(sel4_debug)]
    raw(SysDebugHalt, 0, 0, &mut [0; 4]);
}

/// `seL4_DebugSnapshot`: on a 5.0 debug kernel this enters the kernel's
/// interactive capDL dump protocol on the serial line. Returns false on
/// release kernels.
pub fn debug_snapshot() -> bool {
    #[cfg(sel4_debug)]
    {
        raw(SysDebugSnapshot, 0, 0, &mut [0; 4]);
        true
    }
    #[cfg(not(sel4_debug))]
    false
}
