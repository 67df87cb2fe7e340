//! The wire format: every number and every byte position both sides agree on.
//!
//! This is the crate's `abi` (in the Hubris sense): the LWK personality and the
//! Linux daemon compile against these definitions, so a change here is a
//! change of [`VERSION`]. The layout is fixed at compile time; the region
//! header repeats it so that an attaching side can refuse a region formatted by
//! a different build ([`ChannelError::BadLayout`]).
//!
//! Shared structures are `#[repr(C)]` and made of atomics only: the other
//! side (another VM, or a test thread) writes them while we hold references,
//! which is sound only through interior mutability, and reading them can never
//! produce an invalid value. Plain values ([`Request`], [`Response`]) are what
//! the rest of the crate works with, after validation.

mod errno;
mod opcode;

use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

pub use errno::{Errno, InvalidErrno, MAX_ERRNO};
pub use opcode::{Opcode, UnknownOpcode};

use crate::error::ChannelError;
use crate::region::Shared;

/// Size of the ivshmem region both QEMU guests map.
pub const REGION_SIZE: usize = 16 << 20;
/// Page size; the header occupies the first page and slot tables are
/// page-aligned.
pub const PAGE_SIZE: usize = 4096;
/// `"LWKCHAN\0"` read as a little-endian word; written last by the formatter,
/// so a side that sees it also sees a complete header.
pub const MAGIC: u64 = u64::from_le_bytes(*b"LWKCHAN\0");
/// Protocol version. Any change to this module bumps it; sides refuse a peer
/// with another version rather than guess.
pub const VERSION: u32 = 1;

/// Bytes of data each slot carries (a path, a `write` buffer, `read` results,
/// a job's exe + argv + envp). Larger transfers are split by the caller.
pub const SLOT_DATA_SIZE: usize = 64 << 10;
/// Arguments per request: as many as a Linux system call takes.
pub const MAX_ARGS: usize = 6;
/// Slots in each I/O ring: bounds the I/O requests in flight, which the
/// personality needs at most one per application core.
pub const IO_SLOTS: u32 = 64;
/// Slots in each control ring: job launches are rare.
pub const CONTROL_SLOTS: u32 = 4;
/// Number of rings in the region.
pub const RING_COUNT: usize = 4;
/// Ring indices start here after formatting. Like Linux's `INITIAL_JIFFIES`,
/// the value sits just short of wrapping so every run crosses the wrap of the
/// free-running 32-bit indices early instead of after four billion messages.
pub const INITIAL_INDEX: u32 = 0u32.wrapping_sub(1024);

/// Data bytes per slot, as a word count (data areas are copied in words).
pub(crate) const SLOT_DATA_WORDS: usize = SLOT_DATA_SIZE / 8;

/// The two parties of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Side {
    /// The LWK personality on seL4. It formats the region.
    Lwk = 0,
    /// The daemon in the Linux VM. It attaches to a formatted region.
    Linux = 1,
}

impl Side {
    /// The other party.
    pub const fn peer(self) -> Side {
        match self {
            Side::Lwk => Side::Linux,
            Side::Linux => Side::Lwk,
        }
    }
}

/// The four single-producer/single-consumer rings of the region, in layout
/// order. They form two request/response pairs: I/O (the LWK asks, Linux
/// answers) and control (Linux asks, the LWK answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum RingId {
    /// LWK → Linux: forwarded system calls, job exit, console output.
    IoRequests = 0,
    /// Linux → LWK: answers to `IoRequests`.
    IoResponses = 1,
    /// Linux → LWK: job start.
    ControlRequests = 2,
    /// LWK → Linux: answers to `ControlRequests`.
    ControlResponses = 3,
}

impl RingId {
    /// All rings, in layout order.
    pub const ALL: [RingId; RING_COUNT] = [
        RingId::IoRequests,
        RingId::IoResponses,
        RingId::ControlRequests,
        RingId::ControlResponses,
    ];

    /// The side that writes slots and the head index of this ring; the other
    /// side reads slots and writes the tail index.
    pub const fn producer(self) -> Side {
        match self {
            RingId::IoRequests | RingId::ControlResponses => Side::Lwk,
            RingId::IoResponses | RingId::ControlRequests => Side::Linux,
        }
    }

    /// Where this ring lives in the region.
    pub const fn layout(self) -> RingLayout {
        LAYOUT[self as usize]
    }
}

/// Where one ring's slot table and data areas are, fixed at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    /// Number of slots, a power of two (indices are masked, never trusted).
    pub slot_count: u32,
    /// Bytes per entry of the slot table.
    pub slot_size: u32,
    /// Offset of the slot table from the region base.
    pub slots_offset: usize,
    /// Offset of the first slot's data area; slot `i`'s data area follows at
    /// `data_offset + i * SLOT_DATA_SIZE`.
    pub data_offset: usize,
}

const fn round_up(x: usize, align: usize) -> usize {
    x.div_ceil(align) * align
}

const fn compute_layout() -> [RingLayout; RING_COUNT] {
    let counts = [IO_SLOTS, IO_SLOTS, CONTROL_SLOTS, CONTROL_SLOTS];
    let sizes = [
        size_of::<RequestSlot>(),
        size_of::<ResponseSlot>(),
        size_of::<RequestSlot>(),
        size_of::<ResponseSlot>(),
    ];
    let empty = RingLayout {
        slot_count: 0,
        slot_size: 0,
        slots_offset: 0,
        data_offset: 0,
    };
    let mut rings = [empty; RING_COUNT];
    // Slot tables follow the header page, each on its own pages.
    let mut offset = PAGE_SIZE;
    let mut i = 0;
    while i < RING_COUNT {
        rings[i].slot_count = counts[i];
        rings[i].slot_size = sizes[i] as u32;
        rings[i].slots_offset = offset;
        offset = round_up(offset + counts[i] as usize * sizes[i], PAGE_SIZE);
        i += 1;
    }
    // Data areas are aligned to their own size, which keeps them page-aligned
    // and leaves room to map one into a guest buffer directly later.
    offset = round_up(offset, SLOT_DATA_SIZE);
    i = 0;
    while i < RING_COUNT {
        rings[i].data_offset = offset;
        offset += counts[i] as usize * SLOT_DATA_SIZE;
        i += 1;
    }
    rings
}

/// The layout of the four rings, indexed by [`RingId`].
pub const LAYOUT: [RingLayout; RING_COUNT] = compute_layout();
/// First byte after the last data area; the rest of the region is reserved.
pub const LAYOUT_END: usize = {
    let last = LAYOUT[RING_COUNT - 1];
    last.data_offset + last.slot_count as usize * SLOT_DATA_SIZE
};

/// What a side announces about itself in its [`SideState::state`] word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum SideStatus {
    /// Never attached (zeroed memory).
    Absent = 0,
    /// Attached and serving.
    Up = 1,
    /// Closed cleanly; requests will not be answered.
    Down = 2,
}

impl TryFrom<u32> for SideStatus {
    type Error = u32;
    fn try_from(x: u32) -> Result<Self, u32> {
        match x {
            0 => Ok(Self::Absent),
            1 => Ok(Self::Up),
            2 => Ok(Self::Down),
            _ => Err(x),
        }
    }
}

/// One side's presence in the region. Written only by that side; one cache
/// line, so the peer's polling does not contend with the owner's writes.
#[derive(Debug)]
#[repr(C)]
pub struct SideState {
    /// A [`SideStatus`]; stored with release after everything else of the
    /// side (its generation, its ring indices) is in place.
    pub state: AtomicU32,
    _reserved0: AtomicU32,
    /// Bumped every time the side formats or attaches, so the peer can tell a
    /// restarted daemon (or rebooted LWK) from the one it was talking to.
    pub generation: AtomicU64,
    /// Optionally bumped by the owner while idle, for watchdogs.
    pub heartbeat: AtomicU64,
    _reserved: [AtomicU64; 5],
}

/// A ring's description as stored in the header, compared on attach.
#[derive(Debug)]
#[repr(C)]
pub struct RingDesc {
    pub slots_offset: AtomicU64,
    pub data_offset: AtomicU64,
    pub slot_count: AtomicU32,
    pub slot_size: AtomicU32,
}

/// A ring's indices. Both are free-running `u32` counts of messages, masked
/// by `slot_count - 1` to find a slot. `head - tail` (wrapping) is the number
/// of published, unconsumed messages and must never exceed `slot_count`.
#[derive(Debug)]
#[repr(C)]
pub struct RingControl {
    /// Written by the producer (release) after the slot at `head` is complete.
    pub head: AtomicU32,
    _pad0: [AtomicU32; 15],
    /// Written by the consumer (release) after it has finished reading the
    /// slot at `tail`; the producer reuses a slot only after seeing this.
    pub tail: AtomicU32,
    _pad1: [AtomicU32; 15],
}

/// The first page of the region.
#[derive(Debug)]
#[repr(C)]
pub struct RegionHeader {
    /// [`MAGIC`], stored last (release) by the formatter.
    pub magic: AtomicU64,
    /// [`VERSION`].
    pub version: AtomicU32,
    /// Size of this header, [`PAGE_SIZE`].
    pub header_size: AtomicU32,
    /// [`REGION_SIZE`].
    pub region_size: AtomicU64,
    /// [`SLOT_DATA_SIZE`].
    pub slot_data_size: AtomicU32,
    /// [`RING_COUNT`].
    pub ring_count: AtomicU32,
    /// [`LAYOUT`], indexed by [`RingId`].
    pub rings: [RingDesc; RING_COUNT],
    /// Indexed by [`Side`].
    pub sides: [SideState; 2],
    /// Indexed by [`RingId`].
    pub controls: [RingControl; RING_COUNT],
    _reserved: [AtomicU64; 416],
}

/// A request slot: one forwarded call or control message, 128 bytes.
#[derive(Debug)]
#[repr(C)]
pub struct RequestSlot {
    /// The ring index this slot was published at; a mismatch means a stale
    /// slot ([`ChannelError::StaleSlot`]).
    pub stamp: AtomicU32,
    /// An [`Opcode`].
    pub opcode: AtomicU32,
    /// The requester's sequence number, echoed by the response.
    pub seq: AtomicU64,
    /// The job the request belongs to.
    pub job: AtomicU32,
    /// Start of the request's data within the slot's data area.
    pub data_offset: AtomicU32,
    /// Length of the request's data.
    pub data_len: AtomicU32,
    _reserved0: AtomicU32,
    /// System call arguments; pointers are replaced by data offsets.
    pub args: [AtomicU64; MAX_ARGS],
    _reserved: [AtomicU64; 6],
}

/// A response slot: the answer to one request, 64 bytes. Response data always
/// starts at the beginning of the slot's data area.
#[derive(Debug)]
#[repr(C)]
pub struct ResponseSlot {
    /// As [`RequestSlot::stamp`].
    pub stamp: AtomicU32,
    /// Length of the response's data.
    pub data_len: AtomicU32,
    /// The `seq` of the request answered.
    pub seq: AtomicU64,
    /// The call's result: a value, or a negated [`Errno`].
    pub result: AtomicI64,
    _reserved: [AtomicU64; 5],
}

const _: () = {
    assert!(size_of::<SideState>() == 64);
    assert!(size_of::<RingDesc>() == 24);
    assert!(size_of::<RingControl>() == 128);
    assert!(size_of::<RequestSlot>() == 128);
    assert!(size_of::<ResponseSlot>() == 64);
    assert!(size_of::<RegionHeader>() == PAGE_SIZE);
    assert!(offset_of!(RegionHeader, rings) == 0x20);
    assert!(offset_of!(RegionHeader, sides) == 0x80);
    assert!(offset_of!(RegionHeader, controls) == 0x100);
    assert!(offset_of!(RequestSlot, args) == 32);
    assert!(offset_of!(ResponseSlot, result) == 16);
    assert!(SLOT_DATA_SIZE.is_multiple_of(PAGE_SIZE) && SLOT_DATA_SIZE <= u32::MAX as usize);
    assert!(IO_SLOTS.is_power_of_two() && CONTROL_SLOTS.is_power_of_two());
    assert!(INITIAL_INDEX.is_multiple_of(IO_SLOTS) && INITIAL_INDEX.is_multiple_of(CONTROL_SLOTS));
    assert!(LAYOUT[0].slots_offset >= PAGE_SIZE);
    assert!(
        LAYOUT_END <= REGION_SIZE,
        "the rings must fit the 16 MiB region"
    );
};

/// The job a message belongs to; assigned by the daemon at job start.
/// `JobId::NONE` marks messages outside any job (console output at boot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct JobId(pub u32);

impl JobId {
    pub const NONE: JobId = JobId(0);
}

/// A byte range within a slot's data area, validated to lie inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataRange {
    offset: u32,
    len: u32,
}

impl DataRange {
    /// The range, if it fits a slot's data area.
    pub const fn new(offset: u32, len: u32) -> Option<Self> {
        if offset as u64 + len as u64 <= SLOT_DATA_SIZE as u64 {
            Some(Self { offset, len })
        } else {
            None
        }
    }
    pub const fn offset(&self) -> u32 {
        self.offset
    }
    pub const fn len(&self) -> u32 {
        self.len
    }
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a requester asks: everything of a request but its sequence number,
/// which the [`Requester`](crate::Requester) assigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    pub job: JobId,
    pub opcode: Opcode,
    pub args: [u64; MAX_ARGS],
}

impl Call {
    /// A call with all arguments zero.
    pub const fn new(job: JobId, opcode: Opcode) -> Self {
        Self {
            job,
            opcode,
            args: [0; MAX_ARGS],
        }
    }

    /// The same call with argument `i` set; `i` must be below [`MAX_ARGS`].
    pub const fn arg(mut self, i: usize, value: u64) -> Self {
        self.args[i] = value;
        self
    }
}

/// A validated request as read from (or written to) a request slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub seq: u64,
    pub call: Call,
    pub data: DataRange,
}

/// A validated response as read from (or written to) a response slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// The `seq` of the request answered.
    pub seq: u64,
    /// A non-negative value or a negated errno, exactly as a Linux system
    /// call returns it; see [`Response::outcome`].
    pub result: i64,
    /// Bytes of data at the start of the slot's data area.
    pub data_len: u32,
}

impl Response {
    /// The result as a value or an [`Errno`].
    pub fn outcome(&self) -> Result<u64, Errno> {
        Errno::from_result(self.result)
    }

    /// Whether `result` is a value or a negated errno in `1..=MAX_ERRNO`.
    pub const fn result_is_valid(result: i64) -> bool {
        result >= -(MAX_ERRNO as i64)
    }
}

/// A message type that travels in a ring's slots: how it is stored, and how it
/// is read back and validated. Implemented by [`Request`] and [`Response`].
pub(crate) trait Message: Copy {
    type Slot: Shared;
    /// The slot's stamp word.
    fn stamp(slot: &Self::Slot) -> &AtomicU32;
    /// The message's data range, already validated.
    fn data(&self) -> DataRange;
    /// Writes every field but the stamp (relaxed: the ring's release store of
    /// `head` publishes them).
    fn store(&self, slot: &Self::Slot);
    /// Reads every field once and validates it for `ring`. Errors here are
    /// about one message, never about the ring.
    fn load(slot: &Self::Slot, ring: RingId) -> Result<Self, ChannelError>;
}

impl Message for Request {
    type Slot = RequestSlot;

    fn stamp(slot: &RequestSlot) -> &AtomicU32 {
        &slot.stamp
    }

    fn data(&self) -> DataRange {
        self.data
    }

    fn store(&self, slot: &RequestSlot) {
        slot.opcode.store(self.call.opcode as u32, Relaxed);
        slot.seq.store(self.seq, Relaxed);
        slot.job.store(self.call.job.0, Relaxed);
        slot.data_offset.store(self.data.offset, Relaxed);
        slot.data_len.store(self.data.len, Relaxed);
        for (word, arg) in slot.args.iter().zip(self.call.args) {
            word.store(arg, Relaxed);
        }
    }

    fn load(slot: &RequestSlot, ring: RingId) -> Result<Self, ChannelError> {
        let seq = slot.seq.load(Relaxed);
        let raw = slot.opcode.load(Relaxed);
        let opcode =
            Opcode::try_from(raw).map_err(|_| ChannelError::BadOpcode { seq, opcode: raw })?;
        if opcode.ring() != ring {
            return Err(ChannelError::WrongRing { seq, opcode });
        }
        let (offset, len) = (slot.data_offset.load(Relaxed), slot.data_len.load(Relaxed));
        let data = DataRange::new(offset, len).ok_or(ChannelError::DataOutOfBounds {
            seq,
            offset,
            len,
        })?;
        let mut args = [0; MAX_ARGS];
        for (arg, word) in args.iter_mut().zip(&slot.args) {
            *arg = word.load(Relaxed);
        }
        let call = Call {
            job: JobId(slot.job.load(Relaxed)),
            opcode,
            args,
        };
        Ok(Request { seq, call, data })
    }
}

impl Message for Response {
    type Slot = ResponseSlot;

    fn stamp(slot: &ResponseSlot) -> &AtomicU32 {
        &slot.stamp
    }

    fn data(&self) -> DataRange {
        DataRange {
            offset: 0,
            len: self.data_len,
        }
    }

    fn store(&self, slot: &ResponseSlot) {
        slot.data_len.store(self.data_len, Relaxed);
        slot.seq.store(self.seq, Relaxed);
        slot.result.store(self.result, Relaxed);
    }

    fn load(slot: &ResponseSlot, _ring: RingId) -> Result<Self, ChannelError> {
        let seq = slot.seq.load(Relaxed);
        let result = slot.result.load(Relaxed);
        if !Response::result_is_valid(result) {
            return Err(ChannelError::BadResult { seq, result });
        }
        let len = slot.data_len.load(Relaxed);
        if DataRange::new(0, len).is_none() {
            return Err(ChannelError::DataOutOfBounds {
                seq,
                offset: 0,
                len,
            });
        }
        Ok(Response {
            seq,
            result,
            data_len: len,
        })
    }
}

#[cfg(test)]
#[path = "wire/tests.rs"]
mod tests;
