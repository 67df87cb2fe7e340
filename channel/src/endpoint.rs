//! The two sides: formatting (LWK), attaching (Linux), and liveness.
//!
//! The LWK personality formats the region once at boot: it owns the layout
//! and lives as long as the machine. The Linux daemon attaches, possibly
//! before the LWK has formatted (it waits for the magic) and possibly many
//! times (a restarted daemon). Each format or attach bumps that side's
//! `generation`; a requester that sees its peer's generation change fails
//! what it had in flight ([`ChannelError::PeerRestarted`]).
//!
//! Restart rules: an attaching side continues the rings it produces from the
//! indices in shared memory, and empties the rings it consumes (what is queued
//! there was meant for its previous incarnation, whose requester state is
//! gone, or will be answered by nobody). A daemon that sees the LWK's
//! generation change (or the magic vanish) must attach again: the rings were
//! reset under it.

use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::time::Duration;

use crate::error::{ChannelError, LayoutField};
use crate::region::Region;
use crate::requester::{PeerWatch, Requester};
use crate::responder::Responder;
use crate::ring::{Consumer, Producer, Ring};
use crate::wait::{poll_until, Waiter};
use crate::wire::{
    RegionHeader, RingId, Side, SideState, SideStatus, CONTROL_SLOTS, IO_SLOTS, LAYOUT, MAGIC,
    PAGE_SIZE, REGION_SIZE, RING_COUNT, SLOT_DATA_SIZE, VERSION,
};

/// A side's own state word and a view of its peer's.
#[derive(Debug)]
pub struct Liveness<'a> {
    side: Side,
    own: &'a SideState,
    peer: &'a SideState,
}

/// What a side announces, as read by the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub status: SideStatus,
    pub generation: u64,
    pub heartbeat: u64,
}

impl<'a> Liveness<'a> {
    fn new(header: &'a RegionHeader, side: Side) -> Self {
        Self {
            side,
            own: &header.sides[side as usize],
            peer: &header.sides[side.peer() as usize],
        }
    }

    pub fn side(&self) -> Side {
        self.side
    }

    /// This side's generation.
    pub fn generation(&self) -> u64 {
        self.own.generation.load(Relaxed)
    }

    /// What the peer announces.
    pub fn peer_status(&self) -> Result<PeerStatus, ChannelError> {
        let raw = self.peer.state.load(Acquire);
        let status = SideStatus::try_from(raw).map_err(|found| ChannelError::BadState {
            side: self.side.peer(),
            found,
        })?;
        Ok(PeerStatus {
            status,
            generation: self.peer.generation.load(Relaxed),
            heartbeat: self.peer.heartbeat.load(Relaxed),
        })
    }

    /// Bumps this side's heartbeat, for a peer that wants to tell "slow" from
    /// "gone". Only the owner writes it, so a plain load and store suffice.
    pub fn beat(&self) {
        let beat = self.own.heartbeat.load(Relaxed);
        self.own.heartbeat.store(beat.wrapping_add(1), Relaxed);
    }

    /// Waits up to `timeout` for the peer to announce itself up, and returns
    /// what it announces. The LWK calls this before its first forwarded call
    /// so that a Linux VM that was never started (or whose daemon never
    /// attached) is a [`ChannelError::Timeout`] after a bounded wait, not a
    /// hang; a peer that closed is [`ChannelError::PeerDown`] at once.
    pub fn wait_for_peer(
        &self,
        waiter: &mut impl Waiter,
        timeout: Duration,
    ) -> Result<PeerStatus, ChannelError> {
        poll_until(waiter, timeout, || {
            let status = self.peer_status()?;
            match status.status {
                SideStatus::Up => Ok(Some(status)),
                SideStatus::Absent => Ok(None),
                SideStatus::Down => Err(ChannelError::PeerDown),
            }
        })
    }

    /// Announces that this side stops answering; a peer waiting on it gets
    /// [`ChannelError::PeerDown`] instead of waiting for its timeout.
    pub fn close(&self) {
        self.own.state.store(SideStatus::Down as u32, Release);
    }
}

/// The LWK personality's end: it asks on the I/O pair and answers on the
/// control pair.
#[derive(Debug)]
pub struct LwkEndpoint<'a> {
    /// Forwarded system calls, job exit, console output.
    pub io: Requester<'a>,
    /// Job start.
    pub control: Responder<'a>,
    pub liveness: Liveness<'a>,
}

impl<'a> LwkEndpoint<'a> {
    /// Formats `region` (whatever it held) and announces the LWK as up, with a
    /// generation one above the previous format's.
    pub fn format(region: Region<'a>) -> Self {
        let header = region.view::<RegionHeader>(0);
        // A side that attaches from now on waits until the header is whole.
        header.magic.store(0, Release);
        header.version.store(VERSION, Relaxed);
        header.header_size.store(PAGE_SIZE as u32, Relaxed);
        header.region_size.store(REGION_SIZE as u64, Relaxed);
        header.slot_data_size.store(SLOT_DATA_SIZE as u32, Relaxed);
        header.ring_count.store(RING_COUNT as u32, Relaxed);
        for (desc, layout) in header.rings.iter().zip(LAYOUT) {
            desc.slots_offset.store(layout.slots_offset as u64, Relaxed);
            desc.data_offset.store(layout.data_offset as u64, Relaxed);
            desc.slot_count.store(layout.slot_count, Relaxed);
            desc.slot_size.store(layout.slot_size, Relaxed);
        }
        let io_requests = Producer::formatted(Ring::new(region, RingId::IoRequests));
        let io_responses = Consumer::formatted(Ring::new(region, RingId::IoResponses));
        let control_requests = Consumer::formatted(Ring::new(region, RingId::ControlRequests));
        let control_responses = Producer::formatted(Ring::new(region, RingId::ControlResponses));

        let own = &header.sides[Side::Lwk as usize];
        own.generation
            .store(own.generation.load(Relaxed).wrapping_add(1), Relaxed);
        own.state.store(SideStatus::Up as u32, Relaxed);
        let peer = PeerWatch::new(&header.sides[Side::Linux as usize], Side::Linux);
        header.magic.store(MAGIC, Release);

        Self {
            io: Requester::new(
                io_requests,
                io_responses,
                peer,
                RingId::IoRequests,
                IO_SLOTS,
            ),
            control: Responder::new(control_requests, control_responses),
            liveness: Liveness::new(header, Side::Lwk),
        }
    }
}

/// The Linux daemon's end: it answers on the I/O pair and asks on the
/// control pair.
#[derive(Debug)]
pub struct LinuxEndpoint<'a> {
    /// Forwarded system calls, job exit, console output.
    pub io: Responder<'a>,
    /// Job start.
    pub control: Requester<'a>,
    pub liveness: Liveness<'a>,
    header: &'a RegionHeader,
    lwk_generation: u64,
}

impl<'a> LinuxEndpoint<'a> {
    /// Waits up to `timeout` for the LWK to format `region`, checks that it
    /// was formatted by a build with this protocol version and layout, and
    /// announces the daemon as up in a new generation.
    ///
    /// [`ChannelError::PeerRestarted`] means the LWK formatted again while
    /// we attached: attach again.
    pub fn attach(
        region: Region<'a>,
        waiter: &mut impl Waiter,
        timeout: Duration,
    ) -> Result<Self, ChannelError> {
        let header = region.view::<RegionHeader>(0);
        poll_until(waiter, timeout, || match header.magic.load(Acquire) {
            0 => Ok(None),
            MAGIC => Ok(Some(())),
            found => Err(ChannelError::BadMagic { found }),
        })?;
        check_header(header)?;
        let lwk_generation = header.sides[Side::Lwk as usize].generation.load(Relaxed);

        let io_requests = Consumer::adopt_discarding(Ring::new(region, RingId::IoRequests));
        let io_responses = Producer::adopt(Ring::new(region, RingId::IoResponses))?;
        let control_requests = Producer::adopt(Ring::new(region, RingId::ControlRequests))?;
        let control_responses =
            Consumer::adopt_discarding(Ring::new(region, RingId::ControlResponses));

        let own = &header.sides[Side::Linux as usize];
        own.generation
            .store(own.generation.load(Relaxed).wrapping_add(1), Relaxed);
        own.state.store(SideStatus::Up as u32, Release);
        let peer = PeerWatch::new(&header.sides[Side::Lwk as usize], Side::Lwk);

        let this = Self {
            io: Responder::new(io_requests, io_responses),
            control: Requester::new(
                control_requests,
                control_responses,
                peer,
                RingId::ControlRequests,
                CONTROL_SLOTS,
            ),
            liveness: Liveness::new(header, Side::Linux),
            header,
            lwk_generation,
        };
        this.check_lwk()?;
        Ok(this)
    }

    /// Whether the LWK is still the one we attached to. Call it between
    /// requests; on [`ChannelError::PeerRestarted`] or
    /// [`ChannelError::BadMagic`] attach again, on
    /// [`ChannelError::PeerDown`] the LWK has stopped.
    pub fn check_lwk(&self) -> Result<(), ChannelError> {
        let magic = self.header.magic.load(Acquire);
        if magic != MAGIC {
            return Err(ChannelError::BadMagic { found: magic });
        }
        let status = self.liveness.peer_status()?;
        if status.generation != self.lwk_generation {
            return Err(ChannelError::PeerRestarted {
                generation: status.generation,
            });
        }
        match status.status {
            SideStatus::Up => Ok(()),
            SideStatus::Absent | SideStatus::Down => Err(ChannelError::PeerDown),
        }
    }
}

/// Refuses a header written by another protocol version or layout.
fn check_header(header: &RegionHeader) -> Result<(), ChannelError> {
    let version = header.version.load(Relaxed);
    if version != VERSION {
        return Err(ChannelError::BadVersion { found: version });
    }
    let expect = |field, found: u64, want: u64| {
        if found == want {
            Ok(())
        } else {
            Err(ChannelError::BadLayout { field, found })
        }
    };
    let word = |w: &core::sync::atomic::AtomicU32| u64::from(w.load(Relaxed));
    expect(
        LayoutField::HeaderSize,
        word(&header.header_size),
        PAGE_SIZE as u64,
    )?;
    expect(
        LayoutField::RegionSize,
        header.region_size.load(Relaxed),
        REGION_SIZE as u64,
    )?;
    expect(
        LayoutField::SlotDataSize,
        word(&header.slot_data_size),
        SLOT_DATA_SIZE as u64,
    )?;
    expect(
        LayoutField::RingCount,
        word(&header.ring_count),
        RING_COUNT as u64,
    )?;
    for ((id, desc), layout) in RingId::ALL.into_iter().zip(&header.rings).zip(LAYOUT) {
        let slots = desc.slots_offset.load(Relaxed);
        expect(
            LayoutField::SlotsOffset(id),
            slots,
            layout.slots_offset as u64,
        )?;
        let data = desc.data_offset.load(Relaxed);
        expect(LayoutField::DataOffset(id), data, layout.data_offset as u64)?;
        expect(
            LayoutField::SlotCount(id),
            word(&desc.slot_count),
            layout.slot_count.into(),
        )?;
        expect(
            LayoutField::SlotSize(id),
            word(&desc.slot_size),
            layout.slot_size.into(),
        )?;
    }
    Ok(())
}
