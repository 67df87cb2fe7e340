//! x86_64 specifics: the `syscall` instruction and the IPC buffer, which the
//! kernel makes reachable through the GS base of every thread.
//!
//! This is one of the two places of the crate with `unsafe` code; each
//! block says why it is sound.

pub mod ipc_buffer;
pub mod syscalls;
