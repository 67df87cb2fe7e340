//! The answering end of a ring pair: receives requests, posts responses.

use core::time::Duration;

use crate::error::ChannelError;
use crate::ring::{Consumer, Incoming, Producer, SlotWriter};
use crate::wait::{poll_until, Waiter};
use crate::wire::{Errno, Request, Response};

/// Receives requests on one ring and answers them on the other.
///
/// Answers may be posted in any order; each names the `seq` it answers. A
/// request that fails validation is consumed, answered with an errno
/// (`ENOSYS` for an opcode this side does not serve, `EINVAL` for a bad data
/// range) so that its sender is not left waiting, and reported as the error.
#[derive(Debug)]
pub struct Responder<'a> {
    requests: Consumer<'a, Request>,
    responses: Producer<'a, Response>,
}

impl<'a> Responder<'a> {
    pub(crate) fn new(requests: Consumer<'a, Request>, responses: Producer<'a, Response>) -> Self {
        Self {
            requests,
            responses,
        }
    }

    /// Requests waiting to be received.
    pub fn available(&self) -> Result<u32, ChannelError> {
        self.requests.available()
    }

    /// The next request, if one has arrived.
    pub fn try_recv(&mut self) -> Result<Option<IncomingRequest<'_, 'a>>, ChannelError> {
        match self.requests.peek() {
            Ok(incoming) => Ok(incoming.map(|inner| IncomingRequest { inner })),
            Err(e) => {
                let errno = match e {
                    ChannelError::BadOpcode { .. } | ChannelError::WrongRing { .. } => {
                        Some(Errno::ENOSYS)
                    }
                    ChannelError::DataOutOfBounds { .. } => Some(Errno::EINVAL),
                    _ => None,
                };
                if let (Some(errno), Some(seq)) = (errno, e.seq()) {
                    // Best effort: if the response ring is full, the sender
                    // times out instead.
                    if let Ok(slot) = self.responses.reserve() {
                        let result = errno.to_result();
                        slot.publish(&Response {
                            seq,
                            result,
                            data_len: 0,
                        });
                    }
                }
                Err(e)
            }
        }
    }

    /// Waits up to `timeout` for the next request.
    pub fn recv(
        &mut self,
        waiter: &mut impl Waiter,
        timeout: Duration,
    ) -> Result<IncomingRequest<'_, 'a>, ChannelError> {
        poll_until(waiter, timeout, || {
            Ok((self.requests.available()? > 0).then_some(()))
        })?;
        // Only this side consumes, so the request is still there; a request
        // that fails validation surfaces as the error.
        self.try_recv()?.ok_or(ChannelError::Timeout)
    }

    /// Starts the answer to request `seq`. Nothing is sent until
    /// [`ReplyWriter::submit`].
    pub fn begin_reply(
        &mut self,
        seq: u64,
        outcome: Result<u64, Errno>,
    ) -> Result<ReplyWriter<'_, 'a>, ChannelError> {
        let result = match outcome {
            Ok(value) => i64::try_from(value).map_err(|_| ChannelError::BadResult {
                seq,
                result: value as i64,
            })?,
            Err(errno) => errno.to_result(),
        };
        Ok(ReplyWriter {
            slot: self.responses.reserve()?,
            seq,
            result,
        })
    }

    /// Answers request `seq` with `outcome` and `data`.
    pub fn reply(
        &mut self,
        seq: u64,
        outcome: Result<u64, Errno>,
        data: &[u8],
    ) -> Result<(), ChannelError> {
        let mut writer = self.begin_reply(seq, outcome)?;
        writer.write(data)?;
        writer.submit();
        Ok(())
    }
}

/// A validated request still in its slot. Dropping it without
/// [`release`](Self::release) leaves it to be received again.
#[derive(Debug)]
pub struct IncomingRequest<'r, 'a> {
    inner: Incoming<'r, 'a, Request>,
}

impl IncomingRequest<'_, '_> {
    pub fn request(&self) -> &Request {
        self.inner.message()
    }

    /// Copies the request's data from `offset` into `buf`; returns the bytes
    /// copied (short at the end of the data).
    pub fn read_data(&self, offset: u32, buf: &mut [u8]) -> usize {
        self.inner.read_data(offset, buf)
    }

    /// Frees the slot. The request still needs an answer.
    pub fn release(self) {
        self.inner.release();
    }
}

/// An answer being built in its slot. Dropping it sends nothing.
#[derive(Debug)]
pub struct ReplyWriter<'r, 'a> {
    slot: SlotWriter<'r, 'a, Response>,
    seq: u64,
    result: i64,
}

impl ReplyWriter<'_, '_> {
    /// Appends `bytes` to the answer's data.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ChannelError> {
        self.slot.append(bytes)
    }

    /// Writes `bytes` at `offset` of the answer's data, which extends to cover
    /// them.
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

    /// Publishes the answer.
    pub fn submit(self) {
        let data_len = self.slot.len();
        self.slot.publish(&Response {
            seq: self.seq,
            result: self.result,
            data_len,
        });
    }
}
