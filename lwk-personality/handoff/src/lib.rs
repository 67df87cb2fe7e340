//! The handoff from the root task to the LWK personality server.
//!
//! The root task builds the personality as its own component (own VSpace,
//! own CSpace), then writes one [`Handoff`] record into frames mapped
//! read-only in the personality's VSpace at [`HANDOFF_VADDR`], and starts
//! the personality's control thread with RDI = that address. The record
//! names every cap the personality holds by slot, so no slot numbering is
//! implicit except the first few, which mirror seL4's initial-thread
//! convention ([`slots`]).
//!
//! Both sides compile against this one definition (Hubris's `abi` crate
//! style); the personality validates the record before trusting it.

#![cfg_attr(not(test), no_std)]

/// Where the record is mapped in the personality (read-only).
pub const HANDOFF_VADDR: u64 = 0x1000_0000;
/// Frames reserved for the record.
pub const HANDOFF_PAGES: usize = 4;
/// First IPC buffer: the control thread's; handler `i` uses `+ 4096 * (1 + i)`.
pub const IPC_BUFFER_VADDR: u64 = 0x2000_0000;
/// Base of the direct map of the memory pool: pool frame at physical
/// address `p` is mapped at `DIRECT_MAP_BASE + p`. 1 GiB aligned, so 1 GiB
/// frames map with 1 GiB pages.
pub const DIRECT_MAP_BASE: u64 = 0x0000_4000_0000_0000;
/// Where the personality maps the shared buffer (ivshmem BAR2).
pub const IVSHMEM_VADDR: u64 = 0x0000_3000_0000_0000;

/// `"LWKHAND1"`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"LWKHAND1");
pub const VERSION: u64 = 1;
/// Nodes (cores) the record can describe.
pub const MAX_NODES: usize = 8;
/// Runs of pool frames / untypeds the record can describe.
pub const MAX_RUNS: usize = 256;

/// Fixed slots of the personality's CNode.
pub mod slots {
    /// The control thread's TCB.
    pub const TCB: u64 = 1;
    /// The personality's root CNode (this CNode).
    pub const CNODE: u64 = 2;
    /// Its PML4.
    pub const VSPACE: u64 = 3;
    /// An ASID pool, to give application VSpaces an ASID.
    pub const ASID_POOL: u64 = 4;
    /// IOPort cap covering COM1 (0x3f8–0x3ff) only.
    pub const CONSOLE_PORT: u64 = 5;
    /// IOPort cap covering QEMU's fw_cfg (0x510–0x51b): the standalone job
    /// pack arrives there.
    pub const FW_CFG_PORT: u64 = 6;
    /// IOPort cap covering COM2 (0x2f8–0x2ff): the standalone job channel
    /// (program stdin/stdout/stderr and exit status, framed) until the Linux
    /// VM serves I/O.
    pub const JOB_PORT: u64 = 7;
    /// First slot the root task fills from the record's tables.
    pub const FIRST_DYNAMIC: u64 = 16;
}

/// `count` frames of `1 << page_bits` bytes, at consecutive slots from
/// `first_cap`, at consecutive physical addresses from `paddr`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameRun {
    pub first_cap: u64,
    pub count: u64,
    pub paddr: u64,
    pub page_bits: u64,
}

impl FrameRun {
    pub fn bytes(&self) -> u64 {
        self.count << self.page_bits
    }
}

/// An untyped the personality may retype (for page tables, TCBs,
/// endpoints of applications).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Untyped {
    pub cap: u64,
    pub paddr: u64,
    pub size_bits: u64,
}

/// The fault-handling pair of one application node.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Handler {
    /// The node the handler (and later its application thread) is pinned to.
    pub node: u64,
    /// The handler thread's TCB (configured, pinned, not started).
    pub tcb: u64,
    /// The fault endpoint the handler receives on.
    pub fault_ep: u64,
    /// The handler's IPC buffer address (already mapped).
    pub ipc_buffer: u64,
}

/// The record.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Handoff {
    pub magic: u64,
    pub version: u64,
    /// Nodes the kernel brought up.
    pub num_nodes: u64,
    /// TSC frequency from the bootinfo.
    pub tsc_mhz: u64,
    /// log2 of the personality's CNode size (its guard makes it a
    /// single-level 64-bit CSpace).
    pub cnode_size_bits: u64,
    /// Free slots `[first, end)` of the personality's CNode.
    pub free_slots_first: u64,
    pub free_slots_end: u64,
    /// Guest RAM seen by the root task, bytes.
    pub ram_bytes: u64,
    /// Bytes the root task, personality and kernel objects took.
    pub overhead_bytes: u64,
    pub num_handlers: u64,
    pub handlers: [Handler; MAX_NODES],
    pub num_pool_runs: u64,
    pub pool_runs: [FrameRun; MAX_RUNS],
    pub num_untypeds: u64,
    pub untypeds: [Untyped; MAX_RUNS],
    /// The shared buffer's frames; `count == 0` when no ivshmem device.
    pub ivshmem: FrameRun,
}

/// Why a record is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffError {
    BadMagic(u64),
    BadVersion(u64),
    /// A count exceeds its table.
    Count {
        field: &'static str,
        value: u64,
    },
    /// A frame run is not naturally aligned or wraps.
    BadRun {
        index: usize,
    },
    /// A cap slot outside the CNode.
    BadSlot {
        field: &'static str,
        slot: u64,
    },
}

impl core::fmt::Display for HandoffError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HandoffError::BadMagic(m) => write!(f, "bad handoff magic {m:#x}"),
            HandoffError::BadVersion(v) => write!(f, "handoff version {v}, expected {VERSION}"),
            HandoffError::Count { field, value } => {
                write!(f, "handoff {field} = {value} exceeds its table")
            }
            HandoffError::BadRun { index } => write!(f, "pool run {index} is misaligned or wraps"),
            HandoffError::BadSlot { field, slot } => {
                write!(f, "handoff {field} names slot {slot} outside the CNode")
            }
        }
    }
}

impl Handoff {
    /// An empty record with magic and version set.
    pub const fn empty() -> Self {
        Handoff {
            magic: MAGIC,
            version: VERSION,
            num_nodes: 0,
            tsc_mhz: 0,
            cnode_size_bits: 0,
            free_slots_first: 0,
            free_slots_end: 0,
            ram_bytes: 0,
            overhead_bytes: 0,
            num_handlers: 0,
            handlers: [Handler {
                node: 0,
                tcb: 0,
                fault_ep: 0,
                ipc_buffer: 0,
            }; MAX_NODES],
            num_pool_runs: 0,
            pool_runs: [FrameRun {
                first_cap: 0,
                count: 0,
                paddr: 0,
                page_bits: 0,
            }; MAX_RUNS],
            num_untypeds: 0,
            untypeds: [Untyped {
                cap: 0,
                paddr: 0,
                size_bits: 0,
            }; MAX_RUNS],
            ivshmem: FrameRun {
                first_cap: 0,
                count: 0,
                paddr: 0,
                page_bits: 0,
            },
        }
    }

    /// Checks everything the personality relies on.
    pub fn validate(&self) -> Result<(), HandoffError> {
        if self.magic != MAGIC {
            return Err(HandoffError::BadMagic(self.magic));
        }
        if self.version != VERSION {
            return Err(HandoffError::BadVersion(self.version));
        }
        let slots = 1u64.checked_shl(self.cnode_size_bits as u32).unwrap_or(0);
        let check = |field, v: u64, max: usize| {
            if v > max as u64 {
                Err(HandoffError::Count { field, value: v })
            } else {
                Ok(())
            }
        };
        check("num_handlers", self.num_handlers, MAX_NODES)?;
        check("num_pool_runs", self.num_pool_runs, MAX_RUNS)?;
        check("num_untypeds", self.num_untypeds, MAX_RUNS)?;
        let slot = |field, s: u64| {
            if s < slots {
                Ok(())
            } else {
                Err(HandoffError::BadSlot { field, slot: s })
            }
        };
        slot("free_slots_end - 1", self.free_slots_end.saturating_sub(1))?;
        for h in self.handlers() {
            slot("handler tcb", h.tcb)?;
            slot("handler fault_ep", h.fault_ep)?;
        }
        for (i, r) in self
            .pool_runs()
            .iter()
            .chain(core::iter::once(&self.ivshmem))
            .enumerate()
        {
            if r.count == 0 {
                continue;
            }
            let size = 1u64
                .checked_shl(r.page_bits as u32)
                .ok_or(HandoffError::BadRun { index: i })?;
            let end = r
                .count
                .checked_mul(size)
                .and_then(|b| b.checked_add(r.paddr));
            if r.paddr % size != 0 || end.is_none() {
                return Err(HandoffError::BadRun { index: i });
            }
            slot("frame run last cap", r.first_cap + r.count - 1)?;
        }
        for u in self.untypeds() {
            slot("untyped", u.cap)?;
        }
        Ok(())
    }

    pub fn handlers(&self) -> &[Handler] {
        &self.handlers[..(self.num_handlers as usize).min(MAX_NODES)]
    }
    pub fn pool_runs(&self) -> &[FrameRun] {
        &self.pool_runs[..(self.num_pool_runs as usize).min(MAX_RUNS)]
    }
    pub fn untypeds(&self) -> &[Untyped] {
        &self.untypeds[..(self.num_untypeds as usize).min(MAX_RUNS)]
    }
    /// Total pool bytes with frames of `page_bits`.
    pub fn pool_bytes(&self, page_bits: u64) -> u64 {
        self.pool_runs()
            .iter()
            .filter(|r| r.page_bits == page_bits)
            .map(FrameRun::bytes)
            .sum()
    }
}

const _: () = assert!(core::mem::size_of::<Handoff>() <= HANDOFF_PAGES * 4096);

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Handoff {
        let mut h = Handoff::empty();
        h.cnode_size_bits = 14;
        h.free_slots_first = 100;
        h.free_slots_end = 1 << 14;
        h.num_pool_runs = 2;
        h.pool_runs[0] = FrameRun {
            first_cap: 20,
            count: 2,
            paddr: 1 << 30,
            page_bits: 30,
        };
        h.pool_runs[1] = FrameRun {
            first_cap: 22,
            count: 10,
            paddr: 0x20_0000,
            page_bits: 21,
        };
        h.num_handlers = 1;
        h.handlers[0] = Handler {
            node: 1,
            tcb: 40,
            fault_ep: 41,
            ipc_buffer: IPC_BUFFER_VADDR + 4096,
        };
        h
    }

    #[test]
    fn accepts_a_good_record() {
        let h = good();
        assert_eq!(h.validate(), Ok(()));
        assert_eq!(h.pool_bytes(30), 2 << 30);
        assert_eq!(h.pool_bytes(21), 10 << 21);
    }

    #[test]
    fn rejects_bad_records() {
        let mut h = good();
        h.magic = 0;
        assert!(matches!(h.validate(), Err(HandoffError::BadMagic(0))));
        let mut h = good();
        h.num_pool_runs = MAX_RUNS as u64 + 1;
        assert!(matches!(h.validate(), Err(HandoffError::Count { .. })));
        let mut h = good();
        h.pool_runs[1].paddr = 0x1000;
        assert!(matches!(
            h.validate(),
            Err(HandoffError::BadRun { index: 1 })
        ));
        let mut h = good();
        h.handlers[0].fault_ep = 1 << 20;
        assert!(matches!(h.validate(), Err(HandoffError::BadSlot { .. })));
        let mut h = good();
        h.pool_runs[0].page_bits = 70;
        assert!(matches!(
            h.validate(),
            Err(HandoffError::BadRun { index: 0 })
        ));
    }
}
