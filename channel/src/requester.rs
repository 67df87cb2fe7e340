//! The asking end of a ring pair: sends requests, matches their responses.

use core::sync::atomic::Ordering::{Acquire, Relaxed};
use core::time::Duration;

use crate::error::ChannelError;
use crate::ring::{Consumer, Incoming, Producer, SlotWriter};
use crate::wait::{poll_until, Waiter};
use crate::wire::{
    Call, DataRange, Request, Response, RingId, Side, SideState, SideStatus, IO_SLOTS,
};

/// Requests awaiting an answer, at most. Also bounded by the response ring's
/// capacity, so a responder can always post every answer it owes.
const MAX_IN_FLIGHT: usize = IO_SLOTS as usize;

/// What we remember about a sequence number, in a table indexed by
/// `seq % MAX_IN_FLIGHT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Free,
    /// Sent; its answer will be delivered.
    Waiting(u64),
    /// Sent, then given up on (timeout); its answer will be dropped.
    Abandoned(u64),
}

/// Watches the peer's state word, to notice a restart.
#[derive(Debug)]
pub(crate) struct PeerWatch<'a> {
    state: &'a SideState,
    side: Side,
    generation: u64,
}

impl<'a> PeerWatch<'a> {
    pub(crate) fn new(state: &'a SideState, side: Side) -> Self {
        Self {
            state,
            side,
            generation: state.generation.load(Relaxed),
        }
    }

    /// Reads the peer's state: whether it is up, and whether its generation
    /// is still the one we knew (we know the new one from now on).
    fn check(&mut self) -> Result<(bool, bool), ChannelError> {
        let raw = self.state.state.load(Acquire);
        let status = SideStatus::try_from(raw).map_err(|found| ChannelError::BadState {
            side: self.side,
            found,
        })?;
        let generation = self.state.generation.load(Relaxed);
        let same = generation == self.generation;
        self.generation = generation;
        Ok((status == SideStatus::Up, same))
    }
}

/// Sends requests on one ring and receives their responses on the other.
///
/// Sequence numbers start at 1 and increase by one per request. A response is
/// delivered only if it answers a request that is awaiting one; answers to
/// abandoned requests (after a timeout of [`call`](Self::call)) are dropped,
/// and anything else is refused ([`ChannelError::UnexpectedResponse`]).
/// When the peer shows a new generation, every request in flight has failed:
/// the next operation returns [`ChannelError::PeerRestarted`] once, and the
/// slate is wiped.
///
/// [`call`](Self::call) is the one-request-at-a-time shortcut. Several callers
/// (one per application core) share one `Requester` behind a lock: each
/// [`send`](Self::send)s and releases the lock, and whoever polls
/// [`try_recv`](Self::try_recv) routes the answer to its caller by `seq`.
#[derive(Debug)]
pub struct Requester<'a> {
    requests: Producer<'a, Request>,
    responses: Consumer<'a, Response>,
    peer: PeerWatch<'a>,
    pending: [Pending; MAX_IN_FLIGHT],
    limit: usize,
    ring: RingId,
    next_seq: u64,
}

impl<'a> Requester<'a> {
    pub(crate) fn new(
        requests: Producer<'a, Request>,
        responses: Consumer<'a, Response>,
        peer: PeerWatch<'a>,
        ring: RingId,
        response_slots: u32,
    ) -> Self {
        Self {
            requests,
            responses,
            peer,
            pending: [Pending::Free; MAX_IN_FLIGHT],
            limit: MAX_IN_FLIGHT.min(response_slots as usize),
            ring,
            next_seq: 1,
        }
    }

    /// Requests sent whose answer has not been received (abandoned included).
    pub fn in_flight(&self) -> usize {
        self.pending.iter().filter(|p| **p != Pending::Free).count()
    }

    /// The sequence number the next request will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Starts a request: reserves a slot for it and its data. Nothing is sent
    /// until [`RequestWriter::submit`].
    pub fn begin(&mut self, call: Call) -> Result<RequestWriter<'_, 'a>, ChannelError> {
        let seq = self.next_seq;
        if call.opcode.ring() != self.ring {
            return Err(ChannelError::WrongRing {
                seq,
                opcode: call.opcode,
            });
        }
        if !self.check_peer()? {
            return Err(ChannelError::PeerDown);
        }
        // The table entry may still hold a straggler from MAX_IN_FLIGHT ago.
        if self.pending[slot_of(seq)] != Pending::Free || self.in_flight() >= self.limit {
            return Err(ChannelError::Full);
        }
        let entry = &mut self.pending[slot_of(seq)];
        Ok(RequestWriter {
            slot: self.requests.reserve()?,
            entry,
            next_seq: &mut self.next_seq,
            call,
            seq,
        })
    }

    /// Sends a request with `data`; returns its sequence number.
    pub fn send(&mut self, call: Call, data: &[u8]) -> Result<u64, ChannelError> {
        let mut writer = self.begin(call)?;
        writer.write(data)?;
        Ok(writer.submit())
    }

    /// The next response, if one has arrived. Answers already queued are
    /// delivered even if the peer has closed since; once they are drained, a
    /// closed peer with requests still awaiting answers is
    /// [`ChannelError::PeerDown`].
    pub fn try_recv(&mut self) -> Result<Option<IncomingResponse<'_, 'a>>, ChannelError> {
        let up = self.check_peer()?;
        let none = |pending: &[Pending]| {
            let waiting = pending.iter().any(|p| matches!(p, Pending::Waiting(_)));
            if up || !waiting {
                Ok(None)
            } else {
                Err(ChannelError::PeerDown)
            }
        };
        // Drop answers nobody waits for any more; bounded by the ring size.
        for _ in 0..=self.limit {
            let seq = match self.responses.peek() {
                Ok(None) => return none(&self.pending),
                Ok(Some(incoming)) => {
                    let seq = incoming.message().seq;
                    if self.pending[slot_of(seq)] != Pending::Abandoned(seq) {
                        break;
                    }
                    incoming.release();
                    seq
                }
                // The message was consumed; whoever waited for it has failed.
                Err(e) => match e.seq().map(|seq| (seq, self.pending[slot_of(seq)])) {
                    Some((seq, Pending::Abandoned(s))) if s == seq => seq,
                    Some((seq, Pending::Waiting(s))) if s == seq => {
                        self.pending[slot_of(seq)] = Pending::Free;
                        return Err(e);
                    }
                    _ => return Err(e),
                },
            };
            self.pending[slot_of(seq)] = Pending::Free;
        }
        let Some(inner) = self.responses.peek()? else {
            return none(&self.pending);
        };
        let seq = inner.message().seq;
        let entry = &mut self.pending[slot_of(seq)];
        if *entry != Pending::Waiting(seq) {
            inner.release();
            return Err(ChannelError::UnexpectedResponse { seq });
        }
        Ok(Some(IncomingResponse { inner, entry }))
    }

    /// Sends a request and waits for its answer, copying the answer's data
    /// into `reply`. For callers with one request in flight at a time (it
    /// returns [`ChannelError::Busy`] otherwise). On a timeout or an error the
    /// request is abandoned: a late answer will be dropped.
    pub fn call(
        &mut self,
        call: Call,
        data: &[u8],
        reply: &mut [u8],
        waiter: &mut impl Waiter,
        timeout: Duration,
    ) -> Result<Response, ChannelError> {
        if self
            .pending
            .iter()
            .any(|p| matches!(p, Pending::Waiting(_)))
        {
            return Err(ChannelError::Busy);
        }
        let seq = self.send(call, data)?;
        let result = poll_until(waiter, timeout, || self.poll_reply(seq, reply));
        if result.is_err() {
            self.abandon(seq);
        }
        result
    }

    /// Gives up on a request: its answer, if it ever comes, will be dropped.
    pub fn abandon(&mut self, seq: u64) {
        let entry = &mut self.pending[slot_of(seq)];
        if *entry == Pending::Waiting(seq) {
            *entry = Pending::Abandoned(seq);
        }
    }

    fn poll_reply(&mut self, seq: u64, buf: &mut [u8]) -> Result<Option<Response>, ChannelError> {
        let Some(incoming) = self.try_recv()? else {
            return Ok(None);
        };
        let response = *incoming.response();
        // Only answers to waiting requests are delivered, and ours is the only
        // one; anything else means the table was tampered with.
        if response.seq != seq {
            incoming.release();
            return Err(ChannelError::UnexpectedResponse { seq: response.seq });
        }
        let len = response.data_len as usize;
        if len > buf.len() {
            incoming.release();
            return Err(ChannelError::BufferTooSmall {
                seq,
                needed: response.data_len,
            });
        }
        incoming.read_data(0, &mut buf[..len]);
        incoming.release();
        Ok(Some(response))
    }

    /// Whether the peer is up; fails everything in flight if it restarted.
    fn check_peer(&mut self) -> Result<bool, ChannelError> {
        let (up, same_generation) = self.peer.check()?;
        if same_generation {
            return Ok(up);
        }
        let had_requests = self.in_flight() > 0;
        self.pending = [Pending::Free; MAX_IN_FLIGHT];
        // Queued answers come from the previous incarnation; drop them too.
        self.responses.discard();
        if had_requests {
            return Err(ChannelError::PeerRestarted {
                generation: self.peer.generation,
            });
        }
        Ok(up)
    }
}

fn slot_of(seq: u64) -> usize {
    (seq % MAX_IN_FLIGHT as u64) as usize
}

/// A request being built in its slot. Dropping it sends nothing.
#[derive(Debug)]
pub struct RequestWriter<'r, 'a> {
    slot: SlotWriter<'r, 'a, Request>,
    entry: &'r mut Pending,
    next_seq: &'r mut u64,
    call: Call,
    seq: u64,
}

impl RequestWriter<'_, '_> {
    /// Appends `bytes` to the request's data.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ChannelError> {
        self.slot.append(bytes)
    }

    /// Writes `bytes` at `offset` of the request's data, which extends to
    /// cover them; gaps read as whatever the slot held.
    pub fn write_at(&mut self, offset: u32, bytes: &[u8]) -> Result<(), ChannelError> {
        self.slot.write_at(offset, bytes)
    }

    /// Bytes of data so far.
    pub fn len(&self) -> u32 {
        self.slot.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot.len() == 0
    }

    /// The sequence number the request will carry.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Publishes the request; returns its sequence number.
    pub fn submit(self) -> u64 {
        // `len` only grows through write_at, which keeps it inside the slot.
        let data = DataRange::new(0, self.slot.len()).unwrap_or_default();
        self.slot.publish(&Request {
            seq: self.seq,
            call: self.call,
            data,
        });
        *self.entry = Pending::Waiting(self.seq);
        *self.next_seq = self.seq.wrapping_add(1);
        self.seq
    }
}

/// A validated response still in its slot. Dropping it without
/// [`release`](Self::release) leaves it to be received again.
#[derive(Debug)]
pub struct IncomingResponse<'r, 'a> {
    inner: Incoming<'r, 'a, Response>,
    entry: &'r mut Pending,
}

impl IncomingResponse<'_, '_> {
    pub fn response(&self) -> &Response {
        self.inner.message()
    }

    /// Copies the response's data from `offset` into `buf`; returns the bytes
    /// copied (short at the end of the data).
    pub fn read_data(&self, offset: u32, buf: &mut [u8]) -> usize {
        self.inner.read_data(offset, buf)
    }

    /// Frees the slot; the request is complete.
    pub fn release(self) {
        *self.entry = Pending::Free;
        self.inner.release();
    }
}
