//! Single-producer/single-consumer rings of slots in the shared region.
//!
//! Ordering rules (the whole protocol, per ring):
//!
//! 1. The producer loads `tail` with *acquire* and writes a slot only when
//!    `head - tail < slot_count`: the consumer's release of `tail` comes after
//!    its last read of that slot, so the slot is no longer read.
//! 2. The producer writes the slot's data, its fields and its stamp (the value
//!    of `head`), then stores `head + 1` with *release*.
//! 3. The consumer loads `head` with *acquire*; every slot below it is then
//!    completely visible. It reads the slot, and stores `tail + 1` with
//!    *release* when done with the slot's data.
//!
//! Each side keeps its own index privately and only publishes it; the peer's
//! index is loaded fresh and validated each time (`head - tail`, wrapping,
//! must not exceed `slot_count`), as is the stamp of every slot read. Slots are
//! found by masking an index with `slot_count - 1`, so no value from the peer
//! can name a slot outside the ring; data ranges are validated by
//! [`DataRange`] before any copy. Nothing here blocks: a full ring is
//! [`ChannelError::Full`], an empty one is `Ok(None)`.

use core::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

use crate::error::ChannelError;
use crate::region::Region;
use crate::wire::{
    DataRange, Message, RegionHeader, RingControl, RingId, INITIAL_INDEX, SLOT_DATA_WORDS,
};

/// One ring's shared parts, resolved from the layout.
pub(crate) struct Ring<'a, M: Message> {
    id: RingId,
    control: &'a RingControl,
    slots: &'a [M::Slot],
    data: &'a [AtomicU64],
}

impl<'a, M: Message> Ring<'a, M> {
    /// The ring `id` of `region`. `M` must be the message type of that ring.
    pub(crate) fn new(region: Region<'a>, id: RingId) -> Self {
        let layout = id.layout();
        let count = layout.slot_count as usize;
        assert_eq!(layout.slot_size as usize, core::mem::size_of::<M::Slot>());
        Self {
            id,
            control: &region.view::<RegionHeader>(0).controls[id as usize],
            slots: region.view_slice(layout.slots_offset, count),
            data: region.words(layout.data_offset, count * SLOT_DATA_WORDS),
        }
    }

    fn capacity(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The slot and data area for a free-running index. Masking makes any
    /// index valid.
    fn slot(&self, index: u32) -> (&'a M::Slot, &'a [AtomicU64]) {
        let i = (index & (self.capacity() - 1)) as usize;
        (
            &self.slots[i],
            &self.data[i * SLOT_DATA_WORDS..(i + 1) * SLOT_DATA_WORDS],
        )
    }

    /// Messages published and not yet consumed, if the indices are coherent.
    fn occupancy(&self, head: u32, tail: u32) -> Result<u32, ChannelError> {
        let used = head.wrapping_sub(tail);
        if used > self.capacity() {
            return Err(ChannelError::CorruptIndex {
                ring: self.id,
                head,
                tail,
            });
        }
        Ok(used)
    }

    /// Empties the ring for a fresh region (used by the formatter only).
    pub(crate) fn format(&self) {
        // Stamp every slot with the index it had one lap ago: a slot that is
        // read before it is ever written is then refused as stale.
        let lap_ago = INITIAL_INDEX.wrapping_sub(self.capacity());
        for (i, slot) in self.slots.iter().enumerate() {
            M::stamp(slot).store(lap_ago.wrapping_add(i as u32), Relaxed);
        }
        self.control.head.store(INITIAL_INDEX, Relaxed);
        self.control.tail.store(INITIAL_INDEX, Relaxed);
    }
}

impl<M: Message> core::fmt::Debug for Ring<'_, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("id", &self.id)
            .field("head", &self.control.head.load(Relaxed))
            .field("tail", &self.control.tail.load(Relaxed))
            .finish_non_exhaustive()
    }
}

/// The writing end of a ring.
#[derive(Debug)]
pub(crate) struct Producer<'a, M: Message> {
    ring: Ring<'a, M>,
    /// Our index; the shared `head` is only ever a copy of it.
    head: u32,
}

impl<'a, M: Message> Producer<'a, M> {
    /// Takes over the writing end where the shared `head` stands, so that a
    /// restarted side continues the sequence its peer expects.
    pub(crate) fn adopt(ring: Ring<'a, M>) -> Result<Self, ChannelError> {
        let head = ring.control.head.load(Relaxed);
        ring.occupancy(head, ring.control.tail.load(Acquire))?;
        Ok(Self { ring, head })
    }

    /// The writing end of a ring being formatted, emptied first.
    pub(crate) fn formatted(ring: Ring<'a, M>) -> Self {
        ring.format();
        Self {
            ring,
            head: INITIAL_INDEX,
        }
    }

    /// Slots free for writing.
    pub(crate) fn free(&self) -> Result<u32, ChannelError> {
        let tail = self.ring.control.tail.load(Acquire);
        Ok(self.ring.capacity() - self.ring.occupancy(self.head, tail)?)
    }

    /// The slot at `head`, to fill and publish; `Full` if there is none.
    pub(crate) fn reserve(&mut self) -> Result<SlotWriter<'_, 'a, M>, ChannelError> {
        if self.free()? == 0 {
            return Err(ChannelError::Full);
        }
        Ok(SlotWriter {
            producer: self,
            len: 0,
        })
    }
}

/// A reserved slot. Dropping it without [`publish`](Self::publish) leaves the
/// ring as it was.
#[derive(Debug)]
pub(crate) struct SlotWriter<'p, 'a, M: Message> {
    producer: &'p mut Producer<'a, M>,
    /// Bytes of data written so far (the extent of every write).
    len: u32,
}

impl<M: Message> SlotWriter<'_, '_, M> {
    /// Appends `bytes` to the data written so far.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<(), ChannelError> {
        self.write_at(self.len, bytes)
    }

    /// Writes `bytes` at `offset` of the data, which extends to cover them;
    /// gaps read as whatever the slot held.
    pub(crate) fn write_at(&mut self, offset: u32, bytes: &[u8]) -> Result<(), ChannelError> {
        self.write_data(offset, bytes)?;
        // write_data checked offset + len against the slot size.
        self.len = self.len.max(offset + bytes.len() as u32);
        Ok(())
    }

    /// Bytes of data written so far.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Copies `bytes` into the slot's data area at `offset`.
    fn write_data(&mut self, offset: u32, bytes: &[u8]) -> Result<(), ChannelError> {
        let too_large = ChannelError::DataTooLarge {
            offset,
            len: bytes.len(),
        };
        let len = u32::try_from(bytes.len()).map_err(|_| too_large)?;
        let range = DataRange::new(offset, len).ok_or(too_large)?;
        let (_, area) = self.producer.ring.slot(self.producer.head);
        copy_in(area, range.offset() as usize, bytes);
        Ok(())
    }

    /// Writes `msg` into the slot and publishes it to the consumer.
    pub(crate) fn publish(self, msg: &M) {
        let producer = self.producer;
        let (slot, _) = producer.ring.slot(producer.head);
        msg.store(slot);
        M::stamp(slot).store(producer.head, Relaxed);
        producer.head = producer.head.wrapping_add(1);
        // Rule 2: everything above becomes visible with this store.
        producer.ring.control.head.store(producer.head, Release);
    }
}

/// The reading end of a ring.
#[derive(Debug)]
pub(crate) struct Consumer<'a, M: Message> {
    ring: Ring<'a, M>,
    /// Our index; the shared `tail` is only ever a copy of it.
    tail: u32,
}

impl<'a, M: Message> Consumer<'a, M> {
    /// The reading end of a ring being formatted, emptied first.
    pub(crate) fn formatted(ring: Ring<'a, M>) -> Self {
        ring.format();
        Self {
            ring,
            tail: INITIAL_INDEX,
        }
    }

    /// Takes over the reading end and drops everything queued: those messages
    /// were meant for a previous incarnation of this side, and their senders
    /// give up on them when they see this side's new generation.
    pub(crate) fn adopt_discarding(ring: Ring<'a, M>) -> Self {
        let mut consumer = Self { ring, tail: 0 };
        consumer.discard();
        consumer
    }

    /// Drops everything queued now (answers from a peer's previous
    /// incarnation).
    pub(crate) fn discard(&mut self) {
        self.tail = self.ring.control.head.load(Acquire);
        self.ring.control.tail.store(self.tail, Release);
    }

    /// Messages waiting to be read.
    pub(crate) fn available(&self) -> Result<u32, ChannelError> {
        self.ring
            .occupancy(self.ring.control.head.load(Acquire), self.tail)
    }

    /// The oldest unread message, validated, or `None` if the ring is empty.
    ///
    /// A message that fails validation is consumed and its error returned
    /// (the ring stays usable); a stale slot or incoherent indices are
    /// returned without consuming anything (the ring is not).
    pub(crate) fn peek(&mut self) -> Result<Option<Incoming<'_, 'a, M>>, ChannelError> {
        if self.available()? == 0 {
            return Ok(None);
        }
        let (slot, _) = self.ring.slot(self.tail);
        let stamp = M::stamp(slot).load(Relaxed);
        if stamp != self.tail {
            return Err(ChannelError::StaleSlot {
                ring: self.ring.id,
                expected: self.tail,
                found: stamp,
            });
        }
        match M::load(slot, self.ring.id) {
            Ok(msg) => Ok(Some(Incoming {
                consumer: self,
                msg,
            })),
            Err(e) => {
                self.advance();
                Err(e)
            }
        }
    }

    fn advance(&mut self) {
        self.tail = self.tail.wrapping_add(1);
        // Rule 3: we are done with the slot; the producer may reuse it.
        self.ring.control.tail.store(self.tail, Release);
    }
}

/// A validated message still in its slot. Dropping it without
/// [`release`](Self::release) leaves it to be read again.
#[derive(Debug)]
pub(crate) struct Incoming<'c, 'a, M: Message> {
    consumer: &'c mut Consumer<'a, M>,
    msg: M,
}

impl<M: Message> Incoming<'_, '_, M> {
    pub(crate) fn message(&self) -> &M {
        &self.msg
    }

    /// Copies the message's data, from `offset` within it, into `buf`; returns
    /// the number of bytes copied (fewer than `buf.len()` at the end of the
    /// data, zero past it).
    pub(crate) fn read_data(&self, offset: u32, buf: &mut [u8]) -> usize {
        let range = self.msg.data();
        let rest = range.len().saturating_sub(offset) as usize;
        let n = rest.min(buf.len());
        let (_, area) = self.consumer.ring.slot(self.consumer.tail);
        // `range` is validated to lie inside the area, and offset + n stays in it.
        copy_out(
            area,
            (range.offset() + offset.min(range.len())) as usize,
            &mut buf[..n],
        );
        n
    }

    /// Frees the slot for the producer.
    pub(crate) fn release(self) {
        self.consumer.advance();
    }
}

/// Copies bytes into a data area at a byte offset, a word at a time. Partial
/// words are merged with what is there; the producer owns the whole slot until
/// it publishes, so nothing else writes those words meanwhile.
fn copy_in(area: &[AtomicU64], offset: usize, mut src: &[u8]) {
    let mut pos = offset;
    while !src.is_empty() {
        let (word, skip) = (&area[pos / 8], pos % 8);
        let n = (8 - skip).min(src.len());
        let mut bytes = if n == 8 {
            [0; 8]
        } else {
            word.load(Relaxed).to_le_bytes()
        };
        bytes[skip..skip + n].copy_from_slice(&src[..n]);
        word.store(u64::from_le_bytes(bytes), Relaxed);
        pos += n;
        src = &src[n..];
    }
}

/// Copies bytes out of a data area from a byte offset, a word at a time.
/// Words are little-endian, so the area's byte order is memory order on x86.
fn copy_out(area: &[AtomicU64], offset: usize, dst: &mut [u8]) {
    let mut pos = offset;
    let mut done = 0;
    while done < dst.len() {
        let skip = pos % 8;
        let n = (8 - skip).min(dst.len() - done);
        let bytes = area[pos / 8].load(Relaxed).to_le_bytes();
        dst[done..done + n].copy_from_slice(&bytes[skip..skip + n]);
        pos += n;
        done += n;
    }
}

#[cfg(test)]
#[path = "ring/tests.rs"]
mod tests;
