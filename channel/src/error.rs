//! The one error type of the crate.
//!
//! Every value read from the peer is an allegation; when it does not hold, the
//! caller gets one of these instead of an out-of-bounds access, a panic or a
//! hang. Errors come in two fates (as Hubris's `UserError` does):
//!
//! * **recoverable**: the operation failed but the channel is intact. Either
//!   nothing was consumed (`Full`, `Timeout`), or one malformed message was
//!   consumed and dropped (`BadOpcode`, `DataOutOfBounds`, …; a responder also
//!   answers it with an errno so that its requester is not left waiting);
//! * **fatal** ([`ChannelError::is_fatal`]): shared ring state is inconsistent
//!   (`CorruptIndex`, `StaleSlot`) or the region is not what this build
//!   expects. The ring is left untouched; the side should stop using the
//!   channel, report, and attach or format again.

use core::fmt;

use crate::wire::{Opcode, RingId, Side};

/// What went wrong on the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// The ring (or the set of requests awaiting an answer) has no free slot.
    Full,
    /// The wait ended before the peer answered.
    Timeout,
    /// [`Requester::call`](crate::Requester::call) needs to be the only
    /// request in flight, and another one is still awaiting its answer.
    Busy,
    /// Outgoing data would not fit in a slot's data area.
    DataTooLarge { offset: u32, len: usize },
    /// The caller's buffer is smaller than the data of the message, which was
    /// consumed. `seq` names the request it belongs to.
    BufferTooSmall { seq: u64, needed: u32 },

    /// The mapping is shorter than [`REGION_SIZE`](crate::wire::REGION_SIZE).
    RegionTooSmall { len: usize },
    /// The mapping is not aligned to 8 bytes (atomics need it).
    Misaligned { addr: usize },
    /// The region header does not carry [`MAGIC`](crate::wire::MAGIC).
    BadMagic { found: u64 },
    /// The peer speaks another protocol version.
    BadVersion { found: u32 },
    /// A layout word in the header differs from this build's layout.
    BadLayout { field: LayoutField, found: u64 },
    /// A side's state word holds no known state.
    BadState { side: Side, found: u32 },

    /// The peer has announced that it stopped (or never started).
    PeerDown,
    /// The peer has a new generation: it restarted, and requests sent to its
    /// previous incarnation will not be answered.
    PeerRestarted { generation: u64 },

    /// A ring's indices claim more messages than the ring holds.
    CorruptIndex { ring: RingId, head: u32, tail: u32 },
    /// A published slot does not carry the stamp of its index: the producer
    /// advanced its index without writing the slot (or wrote a stale one).
    StaleSlot {
        ring: RingId,
        expected: u32,
        found: u32,
    },

    /// A request carries an opcode that this build does not know.
    BadOpcode { seq: u64, opcode: u32 },
    /// A request carries an opcode that belongs on the other ring pair.
    WrongRing { seq: u64, opcode: Opcode },
    /// A message's data range reaches past its slot's data area.
    DataOutOfBounds { seq: u64, offset: u32, len: u32 },
    /// A response's result is neither a value nor a negated errno.
    BadResult { seq: u64, result: i64 },
    /// A response answers a request that is not awaiting an answer.
    UnexpectedResponse { seq: u64 },
}

/// Names a layout word of the region header, for [`ChannelError::BadLayout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutField {
    HeaderSize,
    RegionSize,
    SlotDataSize,
    RingCount,
    SlotsOffset(RingId),
    DataOffset(RingId),
    SlotCount(RingId),
    SlotSize(RingId),
}

impl ChannelError {
    /// True when the channel itself can no longer be trusted: stop using it,
    /// report, and attach or format again.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::RegionTooSmall { .. }
                | Self::Misaligned { .. }
                | Self::BadMagic { .. }
                | Self::BadVersion { .. }
                | Self::BadLayout { .. }
                | Self::BadState { .. }
                | Self::CorruptIndex { .. }
                | Self::StaleSlot { .. }
        )
    }

    /// The request sequence number that the error is about, if any.
    pub fn seq(&self) -> Option<u64> {
        match *self {
            Self::BufferTooSmall { seq, .. }
            | Self::BadOpcode { seq, .. }
            | Self::WrongRing { seq, .. }
            | Self::DataOutOfBounds { seq, .. }
            | Self::BadResult { seq, .. }
            | Self::UnexpectedResponse { seq } => Some(seq),
            _ => None,
        }
    }
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Full => write!(f, "ring full"),
            Self::Timeout => write!(f, "timed out waiting for the peer"),
            Self::Busy => write!(f, "another request is awaiting its answer"),
            Self::DataTooLarge { offset, len } => {
                write!(f, "{len} bytes at offset {offset} do not fit a slot")
            }
            Self::BufferTooSmall { seq, needed } => {
                write!(f, "message {seq} carries {needed} bytes, buffer too small")
            }
            Self::RegionTooSmall { len } => write!(f, "shared region of {len} bytes too small"),
            Self::Misaligned { addr } => write!(f, "shared region at {addr:#x} misaligned"),
            Self::BadMagic { found } => write!(f, "bad region magic {found:#018x}"),
            Self::BadVersion { found } => write!(f, "peer speaks protocol version {found}"),
            Self::BadLayout { field, found } => {
                write!(f, "region layout differs: {field:?} = {found:#x}")
            }
            Self::BadState { side, found } => write!(f, "{side:?} state word holds {found}"),
            Self::PeerDown => write!(f, "peer is down"),
            Self::PeerRestarted { generation } => {
                write!(f, "peer restarted (generation {generation})")
            }
            Self::CorruptIndex { ring, head, tail } => {
                write!(f, "{ring:?}: corrupt indices head {head:#x} tail {tail:#x}")
            }
            Self::StaleSlot {
                ring,
                expected,
                found,
            } => {
                write!(
                    f,
                    "{ring:?}: slot stamped {found:#x}, expected {expected:#x}"
                )
            }
            Self::BadOpcode { seq, opcode } => write!(f, "request {seq}: unknown opcode {opcode}"),
            Self::WrongRing { seq, opcode } => {
                write!(f, "request {seq}: {opcode:?} does not belong on this ring")
            }
            Self::DataOutOfBounds { seq, offset, len } => {
                write!(f, "message {seq}: data {offset}+{len} outside its slot")
            }
            Self::BadResult { seq, result } => write!(f, "response {seq}: bad result {result}"),
            Self::UnexpectedResponse { seq } => write!(f, "response to unknown request {seq}"),
        }
    }
}

impl core::error::Error for ChannelError {}
