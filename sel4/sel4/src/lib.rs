//! Typed bindings for seL4 5.0.0 on x86_64, generated from the kernel that
//! boots.
//!
//! Everything numeric (invocation labels, object type ids, syscall numbers,
//! configuration) comes from `sel4-gen` at build time, so the bindings match
//! the exact `.config` and interface XML of the kernel in the boot image.
//! Hand-written here: the ABI (syscall instruction, IPC buffer layout, message
//! info), bootinfo parsing, fault decoding, and the error type.
//!
//! Unsafe code lives in [`arch`] (the `syscall` instruction and GS-relative
//! IPC buffer access) and in [`bootinfo`] (reading the kernel's frame).

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod arch;
pub mod bootinfo;
mod cptr;
mod error;
pub mod fault;
pub mod ipc;
mod message_info;
mod types;

pub use cptr::{cap, CPtr, Cap, CapType};
pub use error::{Context, Error, Failed, Result, NUM_ERRORS};
pub use message_info::MessageInfo;
pub use types::{CapData, CapRights, PrioProps, UserContext, VcpuContext, VmAttributes};

/// The machine word.
pub type Word = u64;

/// Kernel configuration of this build (`CONFIG_*`), generated.
pub mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

/// Invocation labels, named as in libsel4, generated.
#[allow(non_upper_case_globals)]
pub mod labels {
    use crate::Word;
    include!(concat!(env!("OUT_DIR"), "/labels.rs"));
}

/// seL4 syscall numbers implemented by this kernel, generated.
#[allow(non_upper_case_globals)]
pub mod syscall_ids {
    include!(concat!(env!("OUT_DIR"), "/syscall_ids.rs"));
}

mod object_types {
    include!(concat!(env!("OUT_DIR"), "/object_types.rs"));
}
pub use object_types::ObjectType;

/// One typed method per invocation, generated. Each is an inherent method
/// of `Cap<cap_type::X>` and documented with the libsel4 function it
/// corresponds to.
mod invocations {
    pub use crate::cptr::CapType;
    use crate::Cap;
    #[allow(unused_imports)]
    use crate::VcpuContext;
    use crate::{
        ipc, labels, CapData, CapRights, PrioProps, Result, UserContext, VmAttributes, Word,
    };
    include!(concat!(env!("OUT_DIR"), "/invocations.rs"));
}
pub use invocations::cap_type;

pub use arch::syscalls::{
    call, debug_halt, debug_put_char, debug_snapshot, nb_recv, nb_send, recv, reply, reply_recv,
    send, yield_now,
};

/// Object sizes in bits (x86_64, 5.0.0 `constants.h`).
pub mod sizes {
    pub const PAGE_BITS: usize = 12;
    pub const LARGE_PAGE_BITS: usize = 21;
    pub const HUGE_PAGE_BITS: usize = 30;
    pub const SLOT_BITS: usize = 5;
    pub const TCB_BITS: usize = 11;
    pub const ENDPOINT_BITS: usize = 4;
    pub const NOTIFICATION_BITS: usize = 5;
    pub const PAGE_TABLE_BITS: usize = 12;
    pub const PAGE_DIR_BITS: usize = 12;
    pub const PDPT_BITS: usize = 12;
    pub const PML4_BITS: usize = 12;
    pub const ASID_POOL_BITS: usize = 12;
    pub const MIN_UNTYPED_BITS: usize = 4;
    pub const MAX_UNTYPED_BITS: usize = 47;
}

/// Slots of the root task's initial CNode (`seL4_CapInitThreadTCB` ...).
pub mod init_caps {
    use crate::{cap_type::*, Cap};
    pub const TCB: Cap<Tcb> = Cap::from_bits(1);
    pub const CNODE: Cap<CNode> = Cap::from_bits(2);
    pub const VSPACE: Cap<Pml4> = Cap::from_bits(3);
    pub const IRQ_CONTROL: Cap<IrqControl> = Cap::from_bits(4);
    pub const ASID_CONTROL: Cap<AsidControl> = Cap::from_bits(5);
    pub const ASID_POOL: Cap<AsidPool> = Cap::from_bits(6);
    pub const IO_PORT: Cap<IoPort> = Cap::from_bits(7);
    pub const IO_SPACE: Cap<Unspecified> = Cap::from_bits(8);
    pub const BOOT_INFO_FRAME: Cap<Page> = Cap::from_bits(9);
    pub const IPC_BUFFER: Cap<Page> = Cap::from_bits(10);
    pub const DOMAIN: Cap<Unspecified> = Cap::from_bits(11);
    /// `seL4_NumInitialCaps`.
    pub const COUNT: u64 = 12;
}

/// Kernel message limits.
pub const MSG_MAX_LENGTH: usize = 120;
pub const MSG_MAX_EXTRA_CAPS: usize = 3;

/// Pins `tcb` to `node` (`seL4_TCB_SetAffinity`). Uniprocessor kernels have
/// no such invocation; there only node 0 is accepted.
pub fn set_affinity(tcb: cap::Tcb, node: Word) -> Result<()> {
    #[cfg(sel4_smp)]
    {
        tcb.tcb_set_affinity(node)
    }
    #[cfg(not(sel4_smp))]
    {
        let _ = tcb;
        if node == 0 {
            Ok(())
        } else {
            Err(Error::InvalidArgument)
        }
    }
}
