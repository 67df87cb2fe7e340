//! Builds the LWK personality server as its own component: its own VSpace
//! (a new PML4 with an ASID), its own single-level CSpace (a 2^14-slot
//! CNode, guarded to 64 bits), its image loaded from the ELF embedded in
//! the root task, one fault-handler thread per application node with its
//! fault endpoint, the memory pool, part of the kernel-object reserve, the
//! COM1 port range and the shared-buffer frames, all described to it in a
//! read-only handoff record (`lwk-handoff`). Then starts its control thread.

use crate::carve::{Carved, PoolRun};
use crate::image::{self, fill_frame};
use crate::ivshmem::Window;
use crate::record::{Record, TcbRec};
use crate::RootTaskError;
use alloc::vec::Vec;
use lwk_handoff::{
    slots, FrameRun, Handler, Handoff, HANDOFF_PAGES, HANDOFF_VADDR, IPC_BUFFER_VADDR, MAX_NODES,
    MAX_RUNS,
};
use sel4::cap_type::{CNode, Endpoint, Page, Pml4, Tcb};
use sel4::Context;
use sel4::{init_caps, sizes, Cap, CapData, CapRights, ObjectType, PrioProps, UserContext, Word};
use sel4_alloc::{ObjectAllocator, PageSize, UntypedRegion, VSpace};

/// The personality server's ELF, built by `cargo xtask build` before the
/// root task and embedded here (the kernel loads only the root task).
static PERSONALITY_ELF: &[u8] = include_bytes!(env!("LWK_PERSONALITY_ELF"));

/// log2 of the personality's CNode slots.
pub const CNODE_BITS: u8 = 14;
/// Slot addresses in both CSpaces are 64-bit single-level lookups.
const DEPTH: u8 = 64;
/// Priorities: handlers above applications (254) so a trapped system call
/// is served at once; the control thread below them.
const HANDLER_PRIO: u8 = 255;
const CONTROL_PRIO: u8 = 250;

/// What was built.
pub struct Started {
    pub entry: Word,
    pub image_pages: Word,
    pub handlers: usize,
    pub pool_caps: Word,
    pub reserve_given: Word,
}

/// The application nodes: every node but 0; node 0 alone on a
/// uniprocessor (degraded: applications then share the root task's core).
pub fn app_nodes(num_nodes: Word) -> Vec<Word> {
    if num_nodes <= 1 {
        alloc::vec![0]
    } else {
        (1..num_nodes.min(MAX_NODES as Word)).collect()
    }
}

/// Writes caps into the personality's CNode and records them.
struct PersCNode {
    cnode: Cap<CNode>,
    next: Word,
}

impl PersCNode {
    fn copy(
        &mut self,
        rec: &mut Record,
        slot: Word,
        src: Word,
        rights: CapRights,
    ) -> Result<(), RootTaskError> {
        self.cnode
            .cnode_copy(slot, CNODE_BITS, init_caps::CNODE, src, DEPTH, rights)
            .context("CNode_Copy")?;
        rec.cap("pers", slot, src, rights, 0);
        Ok(())
    }
    fn mint(
        &mut self,
        rec: &mut Record,
        slot: Word,
        src: Word,
        data: CapData,
    ) -> Result<(), RootTaskError> {
        self.cnode
            .cnode_mint(
                slot,
                CNODE_BITS,
                init_caps::CNODE,
                src,
                DEPTH,
                CapRights::all(),
                data,
            )
            .context("CNode_Mint")?;
        rec.cap("pers", slot, src, CapRights::all(), data.into_word());
        Ok(())
    }
    fn append(
        &mut self,
        rec: &mut Record,
        src: Word,
        rights: CapRights,
    ) -> Result<Word, RootTaskError> {
        let slot = self.next;
        if slot >= 1 << CNODE_BITS {
            return Err(RootTaskError::Alloc(sel4_alloc::AllocError::OutOfSlots));
        }
        self.copy(rec, slot, src, rights)?;
        self.next += 1;
        Ok(slot)
    }
}

/// Builds and starts the personality.
pub fn build(
    num_nodes: Word,
    tsc_mhz: Word,
    carved: &Carved,
    window: Option<Window>,
    alloc: &mut ObjectAllocator,
    pers_untypeds: &[UntypedRegion],
    rec: &mut Record,
) -> Result<Started, RootTaskError> {
    let cnode: Cap<CNode> =
        alloc.create(ObjectType::CNode, CNODE_BITS + sizes::SLOT_BITS as u8, rec)?;
    rec.name(cnode.bits(), "pers_cnode");
    let pml4: Cap<Pml4> = alloc.create(ObjectType::Pml4, sizes::PML4_BITS as u8, rec)?;
    rec.name(pml4.bits(), "pers_pml4");
    init_caps::ASID_POOL
        .asid_pool_assign(pml4.upcast())
        .context("ASIDPool_Assign")?;
    let vs = VSpace::new(pml4);
    let loaded = image::load(PERSONALITY_ELF, vs, alloc, rec, "pers")?;

    let guard = CapData::guard(0, (DEPTH - CNODE_BITS) as Word);
    let mut pc = PersCNode {
        cnode,
        next: slots::FIRST_DYNAMIC,
    };
    let tcb: Cap<Tcb> = alloc.create(ObjectType::Tcb, sizes::TCB_BITS as u8, rec)?;
    rec.name(tcb.bits(), "pers_control");
    pc.copy(rec, slots::TCB, tcb.bits(), CapRights::all())?;
    pc.mint(rec, slots::CNODE, cnode.bits(), guard)?;
    pc.copy(rec, slots::VSPACE, pml4.bits(), CapRights::all())?;
    pc.copy(
        rec,
        slots::ASID_POOL,
        init_caps::ASID_POOL.bits(),
        CapRights::all(),
    )?;
    pc.mint(
        rec,
        slots::CONSOLE_PORT,
        init_caps::IO_PORT.bits(),
        CapData::io_ports(0x3f8, 0x3ff),
    )?;
    pc.mint(
        rec,
        slots::FW_CFG_PORT,
        init_caps::IO_PORT.bits(),
        CapData::io_ports(0x510, 0x51b),
    )?;
    pc.mint(
        rec,
        slots::JOB_PORT,
        init_caps::IO_PORT.bits(),
        CapData::io_ports(0x2f8, 0x2ff),
    )?;

    let mut h = Handoff::empty();
    h.num_nodes = num_nodes;
    h.tsc_mhz = tsc_mhz;
    h.cnode_size_bits = CNODE_BITS as Word;

    // One handler thread and fault endpoint per application node.
    for (i, node) in app_nodes(num_nodes).into_iter().enumerate() {
        let htcb: Cap<Tcb> = alloc.create(ObjectType::Tcb, sizes::TCB_BITS as u8, rec)?;
        let ep: Cap<Endpoint> =
            alloc.create(ObjectType::Endpoint, sizes::ENDPOINT_BITS as u8, rec)?;
        // capDL role convention: `handler_<core>`.
        rec.name(htcb.bits(), HANDLER_NAMES[node as usize]);
        let ipc = IPC_BUFFER_VADDR + 4096 * (1 + i as Word);
        let frame = ipc_buffer(vs, ipc, alloc, rec)?;
        htcb.tcb_configure(
            0,
            PrioProps::new(HANDLER_PRIO, HANDLER_PRIO),
            cnode,
            guard,
            pml4.cast(),
            CapData::none(),
            ipc,
            frame.upcast(),
        )
        .context("TCB_Configure (handler)")?;
        sel4::set_affinity(htcb, node).context("TCB_SetAffinity (handler)")?;
        rec.tcbs.push(TcbRec {
            tcb: htcb.bits(),
            cnode: cnode.bits(),
            guard_bits: DEPTH - CNODE_BITS,
            pml4: pml4.bits(),
            ipc_frame: frame.bits(),
            ipc_vaddr: ipc,
            ip: 0,
            prio: HANDLER_PRIO,
            max_prio: HANDLER_PRIO,
            node: node as u32,
        });
        let tcb_slot = pc.append(rec, htcb.bits(), CapRights::all())?;
        let ep_slot = pc.append(rec, ep.bits(), CapRights::all())?;
        h.handlers[i] = Handler {
            node,
            tcb: tcb_slot,
            fault_ep: ep_slot,
            ipc_buffer: ipc,
        };
        h.num_handlers += 1;
    }

    // The memory pool.
    let mut pool_caps = 0;
    for run in &carved.pool {
        if h.num_pool_runs as usize >= MAX_RUNS {
            return Err(RootTaskError::ImageLayout(
                "too many pool runs for the handoff record",
            ));
        }
        let first = pc.next;
        for i in 0..run.count {
            pc.append(rec, run.first_cap + i, CapRights::read_write())?;
        }
        pool_caps += run.count;
        h.pool_runs[h.num_pool_runs as usize] = frame_run(run, first);
        h.num_pool_runs += 1;
    }
    // Untypeds for the personality's own kernel objects.
    let mut reserve_given = 0;
    for u in pers_untypeds.iter().take(MAX_RUNS) {
        let slot = pc.append(rec, u.cap.bits(), CapRights::all())?;
        h.untypeds[h.num_untypeds as usize] = lwk_handoff::Untyped {
            cap: slot,
            paddr: u.paddr,
            size_bits: u.size_bits as Word,
        };
        h.num_untypeds += 1;
        reserve_given += 1 << u.size_bits;
    }
    if let Some(w) = window {
        let first = pc.next;
        for i in 0..w.count {
            pc.append(rec, w.first_cap + i, CapRights::read_write())?;
        }
        h.ivshmem = FrameRun {
            first_cap: first,
            count: w.count,
            paddr: w.paddr,
            page_bits: PageSize::Large.bits() as Word,
        };
    }
    h.free_slots_first = pc.next;
    h.free_slots_end = 1 << CNODE_BITS;
    h.ram_bytes = carved.plan.totals.ram_bytes;
    h.overhead_bytes = carved.plan.totals.reserve_bytes + carved.plan.totals.unusable.total();

    write_handoff(&h, vs, alloc, rec)?;

    let ipc_frame = ipc_buffer(vs, IPC_BUFFER_VADDR, alloc, rec)?;
    tcb.tcb_configure(
        0,
        PrioProps::new(255, CONTROL_PRIO),
        cnode,
        guard,
        pml4.cast(),
        CapData::none(),
        IPC_BUFFER_VADDR,
        ipc_frame.upcast(),
    )
    .context("TCB_Configure (personality)")?;
    sel4::set_affinity(tcb, 0).context("TCB_SetAffinity (personality)")?;
    rec.tcbs.push(TcbRec {
        tcb: tcb.bits(),
        cnode: cnode.bits(),
        guard_bits: DEPTH - CNODE_BITS,
        pml4: pml4.bits(),
        ipc_frame: ipc_frame.bits(),
        ipc_vaddr: IPC_BUFFER_VADDR,
        ip: loaded.entry,
        prio: CONTROL_PRIO,
        max_prio: 255,
        node: 0,
    });
    let regs = UserContext {
        rip: loaded.entry,
        rdi: HANDOFF_VADDR,
        rflags: 0x202,
        ..UserContext::default()
    };
    tcb.tcb_write_registers(true, 0, UserContext::WORDS as Word, &regs)
        .context("TCB_WriteRegisters (personality)")?;
    Ok(Started {
        entry: loaded.entry,
        image_pages: loaded.pages,
        handlers: h.num_handlers as usize,
        pool_caps,
        reserve_given,
    })
}

const HANDLER_NAMES: [&str; MAX_NODES] = [
    "handler_0",
    "handler_1",
    "handler_2",
    "handler_3",
    "handler_4",
    "handler_5",
    "handler_6",
    "handler_7",
];

fn frame_run(run: &PoolRun, first_cap: Word) -> FrameRun {
    FrameRun {
        first_cap,
        count: run.count,
        paddr: run.paddr,
        page_bits: run.page_bits as Word,
    }
}

/// A zeroed frame mapped read-write at `vaddr` in `vs`, for an IPC buffer.
fn ipc_buffer(
    vs: VSpace,
    vaddr: Word,
    alloc: &mut ObjectAllocator,
    rec: &mut Record,
) -> Result<Cap<Page>, RootTaskError> {
    let frame: Cap<Page> = alloc.create(ObjectType::SmallPage, sizes::PAGE_BITS as u8, rec)?;
    vs.map(
        frame,
        vaddr,
        PageSize::Small,
        CapRights::read_write(),
        alloc,
        rec,
    )?;
    rec.mapping(
        "pers",
        frame.bits(),
        vaddr,
        PageSize::Small,
        CapRights::read_write(),
    );
    Ok(frame)
}

/// Copies the record into fresh frames and maps them read-only.
fn write_handoff(
    h: &Handoff,
    vs: VSpace,
    alloc: &mut ObjectAllocator,
    rec: &mut Record,
) -> Result<(), RootTaskError> {
    // SAFETY: `Handoff` is plain `repr(C)` data of integers; viewing it as
    // bytes for copying is sound.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            h as *const Handoff as *const u8,
            core::mem::size_of::<Handoff>(),
        )
    };
    for i in 0..HANDOFF_PAGES {
        let frame: Cap<Page> = alloc.create(ObjectType::SmallPage, sizes::PAGE_BITS as u8, rec)?;
        let chunk = bytes
            .get(i * 4096..bytes.len().min((i + 1) * 4096))
            .unwrap_or(&[]);
        fill_frame(frame, alloc, rec, |page| {
            page[..chunk.len()].copy_from_slice(chunk)
        })?;
        let vaddr = HANDOFF_VADDR + 4096 * i as Word;
        vs.map(
            frame,
            vaddr,
            PageSize::Small,
            CapRights::read_only(),
            alloc,
            rec,
        )?;
        rec.mapping(
            "pers",
            frame.bits(),
            vaddr,
            PageSize::Small,
            CapRights::read_only(),
        );
    }
    Ok(())
}
