//! A corrupt or hostile peer: every value it can write is checked, and yields
//! an error rather than an out-of-bounds access, a panic or a hang.

mod common;

use std::mem::offset_of;
use std::time::Duration;

use channel::wire::{
    RegionHeader, RequestSlot, ResponseSlot, RingDesc, RingId, Side, SideState, INITIAL_INDEX,
    SLOT_DATA_SIZE, VERSION,
};
use channel::{
    Call, ChannelError, Errno, JobId, LayoutField, LinuxEndpoint, LwkEndpoint, Opcode, Region,
};
use common::{head_offset, slot_offset, tail_offset, FakeClock, Mem, Rng};

fn attach(mem: &Mem) -> Result<LinuxEndpoint<'_>, ChannelError> {
    LinuxEndpoint::attach(mem.region(), &mut FakeClock(0), Duration::ZERO)
}

fn connect(mem: &Mem) -> (LwkEndpoint<'_>, LinuxEndpoint<'_>) {
    let lwk = LwkEndpoint::format(mem.region());
    (lwk, attach(mem).unwrap())
}

const FSYNC: Call = Call::new(JobId(1), Opcode::Fsync);

#[test]
fn a_foreign_header_is_refused() {
    let mem = Mem::new();
    let _lwk = LwkEndpoint::format(mem.region());
    let magic = mem.load_u64(0);
    mem.store_u64(0, magic ^ 1);
    assert_eq!(
        attach(&mem).err(),
        Some(ChannelError::BadMagic { found: magic ^ 1 })
    );
    mem.store_u64(0, magic);
    let version = offset_of!(RegionHeader, version);
    mem.store_u32(version, VERSION + 1);
    let err = attach(&mem).err().unwrap();
    assert_eq!(err, ChannelError::BadVersion { found: VERSION + 1 });
    assert!(err.is_fatal());
    mem.store_u32(version, VERSION);
    assert!(attach(&mem).is_ok());
    let small: Vec<_> = (0..8)
        .map(|_| std::sync::atomic::AtomicU64::new(0))
        .collect();
    assert!(matches!(
        Region::from_words(&small),
        Err(ChannelError::RegionTooSmall { .. })
    ));
}

#[test]
fn every_layout_word_is_checked() {
    let mem = Mem::new();
    let _lwk = LwkEndpoint::format(mem.region());
    let desc = |ring: RingId, field: usize| {
        offset_of!(RegionHeader, rings) + ring as usize * size_of::<RingDesc>() + field
    };
    let mut fields = vec![
        (
            offset_of!(RegionHeader, header_size),
            4,
            LayoutField::HeaderSize,
        ),
        (
            offset_of!(RegionHeader, region_size),
            8,
            LayoutField::RegionSize,
        ),
        (
            offset_of!(RegionHeader, slot_data_size),
            4,
            LayoutField::SlotDataSize,
        ),
        (
            offset_of!(RegionHeader, ring_count),
            4,
            LayoutField::RingCount,
        ),
    ];
    for ring in RingId::ALL {
        fields.extend([
            (
                desc(ring, offset_of!(RingDesc, slots_offset)),
                8,
                LayoutField::SlotsOffset(ring),
            ),
            (
                desc(ring, offset_of!(RingDesc, data_offset)),
                8,
                LayoutField::DataOffset(ring),
            ),
            (
                desc(ring, offset_of!(RingDesc, slot_count)),
                4,
                LayoutField::SlotCount(ring),
            ),
            (
                desc(ring, offset_of!(RingDesc, slot_size)),
                4,
                LayoutField::SlotSize(ring),
            ),
        ]);
    }
    for (offset, width, field) in fields {
        let (old, found) = if width == 8 {
            let old = mem.load_u64(offset);
            mem.store_u64(offset, old + 1);
            (old, old + 1)
        } else {
            let old = mem.load_u32(offset);
            mem.store_u32(offset, old + 1);
            (u64::from(old), u64::from(old) + 1)
        };
        assert_eq!(
            attach(&mem).err(),
            Some(ChannelError::BadLayout { field, found })
        );
        if width == 8 {
            mem.store_u64(offset, old);
        } else {
            mem.store_u32(offset, old as u32);
        }
    }
    assert!(attach(&mem).is_ok());
}

#[test]
fn indices_beyond_the_ring_are_fatal_on_both_ends() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let head = head_offset(RingId::IoRequests);
    for bad in [INITIAL_INDEX + 65, INITIAL_INDEX - 1, 0x8000_0000] {
        mem.store_u32(head, bad);
        let err = linux.io.try_recv().err().unwrap();
        assert!(matches!(
            err,
            ChannelError::CorruptIndex {
                ring: RingId::IoRequests,
                ..
            }
        ));
        assert!(err.is_fatal());
    }
    mem.store_u32(head, INITIAL_INDEX);
    // The LWK publishes the tail of the response ring; corrupt it.
    mem.store_u32(tail_offset(RingId::IoResponses), INITIAL_INDEX + 1);
    assert!(matches!(
        linux.io.reply(1, Ok(0), &[]),
        Err(ChannelError::CorruptIndex { .. })
    ));
    mem.store_u32(tail_offset(RingId::IoResponses), INITIAL_INDEX);
    // And the tail of the request ring, seen by the LWK's producer.
    mem.store_u32(tail_offset(RingId::IoRequests), INITIAL_INDEX - 65);
    assert!(matches!(
        lwk.io.send(FSYNC, &[]),
        Err(ChannelError::CorruptIndex { .. })
    ));
    // A restarted daemon refuses incoherent indices left in shared memory.
    mem.store_u32(head_offset(RingId::IoResponses), INITIAL_INDEX + 1000);
    assert!(matches!(
        attach(&mem),
        Err(ChannelError::CorruptIndex { .. })
    ));
}

#[test]
fn a_head_moved_without_a_slot_is_stale() {
    let mem = Mem::new();
    let (_lwk, mut linux) = connect(&mem);
    mem.store_u32(head_offset(RingId::IoRequests), INITIAL_INDEX + 1);
    let err = linux.io.try_recv().err().unwrap();
    assert!(matches!(
        err,
        ChannelError::StaleSlot {
            expected: INITIAL_INDEX,
            ..
        }
    ));
    assert!(err.is_fatal());
    // Nothing was consumed.
    assert_eq!(linux.io.available(), Ok(1));
}

/// Sends FSYNC, then lets `poke` rewrite the published request slot.
fn tamper_request(poke: impl Fn(&Mem, usize)) -> (ChannelError, Option<i64>) {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let seq = lwk.io.send(FSYNC, b"data").unwrap();
    poke(&mem, slot_offset(RingId::IoRequests, INITIAL_INDEX));
    let err = linux.io.try_recv().err().unwrap();
    assert!(!err.is_fatal());
    assert_eq!(err.seq(), Some(seq));
    // The bad request was consumed; its sender got an errno if one applies.
    assert_eq!(linux.io.available(), Ok(0));
    let answer = lwk.io.try_recv().unwrap().map(|r| {
        let result = r.response().result;
        r.release();
        result
    });
    (err, answer)
}

#[test]
fn bad_requests_are_consumed_and_answered_with_an_errno() {
    let opcode = offset_of!(RequestSlot, opcode);
    let (err, answer) = tamper_request(|m, slot| m.store_u32(slot + opcode, 2));
    assert_eq!(err, ChannelError::BadOpcode { seq: 1, opcode: 2 });
    assert_eq!(answer, Some(Errno::ENOSYS.to_result()));

    let job_start = Opcode::JobStart as u32;
    let (err, answer) = tamper_request(|m, slot| m.store_u32(slot + opcode, job_start));
    assert_eq!(
        err,
        ChannelError::WrongRing {
            seq: 1,
            opcode: Opcode::JobStart
        }
    );
    assert_eq!(answer, Some(Errno::ENOSYS.to_result()));

    let len = offset_of!(RequestSlot, data_len);
    let too_long = SLOT_DATA_SIZE as u32 + 1;
    let (err, answer) = tamper_request(|m, slot| m.store_u32(slot + len, too_long));
    assert_eq!(
        err,
        ChannelError::DataOutOfBounds {
            seq: 1,
            offset: 0,
            len: too_long
        }
    );
    assert_eq!(answer, Some(Errno::EINVAL.to_result()));

    // offset + len overflows u32: still out of bounds, not wrapped around.
    let off = offset_of!(RequestSlot, data_offset);
    let (err, _) = tamper_request(|m, slot| m.store_u32(slot + off, u32::MAX - 1));
    assert_eq!(
        err,
        ChannelError::DataOutOfBounds {
            seq: 1,
            offset: u32::MAX - 1,
            len: 4
        }
    );
}

/// Sends FSYNC, has the daemon answer it, then lets `poke` rewrite the answer.
fn tamper_response(poke: impl Fn(&Mem, usize)) -> (ChannelError, usize) {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let seq = lwk.io.send(FSYNC, &[]).unwrap();
    let incoming = linux.io.try_recv().unwrap().unwrap();
    incoming.release();
    linux.io.reply(seq, Ok(0), &[]).unwrap();
    poke(&mem, slot_offset(RingId::IoResponses, INITIAL_INDEX));
    let err = lwk.io.try_recv().err().unwrap();
    assert!(!err.is_fatal());
    (err, lwk.io.in_flight())
}

#[test]
fn bad_responses_are_refused() {
    let result = offset_of!(ResponseSlot, result);
    let (err, in_flight) = tamper_response(|m, slot| m.store_u64(slot + result, -5000i64 as u64));
    assert_eq!(
        err,
        ChannelError::BadResult {
            seq: 1,
            result: -5000
        }
    );
    assert_eq!(in_flight, 0, "the request failed with the bad answer");

    let len = offset_of!(ResponseSlot, data_len);
    let (err, _) = tamper_response(|m, slot| m.store_u32(slot + len, u32::MAX));
    assert_eq!(
        err,
        ChannelError::DataOutOfBounds {
            seq: 1,
            offset: 0,
            len: u32::MAX
        }
    );

    let seq = offset_of!(ResponseSlot, seq);
    let (err, in_flight) = tamper_response(|m, slot| m.store_u64(slot + seq, 77));
    assert_eq!(err, ChannelError::UnexpectedResponse { seq: 77 });
    assert_eq!(in_flight, 1, "request 1 still awaits its answer");
}

#[test]
fn a_repeated_answer_is_a_stale_sequence() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let seq = lwk.io.send(FSYNC, &[]).unwrap();
    linux.io.try_recv().unwrap().unwrap().release();
    linux.io.reply(seq, Ok(0), &[]).unwrap();
    linux.io.reply(seq, Ok(0), &[]).unwrap();
    lwk.io.try_recv().unwrap().unwrap().release();
    assert_eq!(
        lwk.io.try_recv().err(),
        Some(ChannelError::UnexpectedResponse { seq })
    );
    assert!(lwk.io.try_recv().unwrap().is_none());
}

#[test]
fn an_unknown_state_word_is_refused() {
    let mem = Mem::new();
    let (mut lwk, linux) = connect(&mem);
    let state = offset_of!(RegionHeader, sides)
        + Side::Linux as usize * size_of::<SideState>()
        + offset_of!(SideState, state);
    mem.store_u32(state, 7);
    let bad = ChannelError::BadState {
        side: Side::Linux,
        found: 7,
    };
    assert_eq!(lwk.io.send(FSYNC, &[]), Err(bad));
    assert_eq!(lwk.liveness.peer_status(), Err(bad));
    let lwk_state = offset_of!(RegionHeader, sides) + offset_of!(SideState, state);
    mem.store_u32(lwk_state, 9);
    assert_eq!(
        linux.check_lwk(),
        Err(ChannelError::BadState {
            side: Side::Lwk,
            found: 9
        })
    );
}

/// Random writes anywhere in the header and slot tables, interleaved with
/// every operation of both ends. Whatever happens must be an `Ok` or an
/// `Err`: a panic fails the test, a hang times it out.
#[test]
fn random_corruption_never_panics_or_hangs() {
    let mem = Mem::new();
    let mut rng = Rng(common::seed());
    let tables_end = RingId::ControlResponses.layout().slots_offset + 4096;
    let interesting = [
        0,
        1,
        u64::MAX,
        u64::from(u32::MAX),
        u64::from(INITIAL_INDEX),
        1 << 32,
    ];
    let (mut errors, mut oks) = (0usize, 0usize);
    for round in 0..300 {
        let mut lwk = LwkEndpoint::format(mem.region());
        let Ok(mut linux) = attach(&mem) else {
            continue;
        };
        let mut buf = vec![0u8; SLOT_DATA_SIZE];
        for _ in 0..40 {
            for _ in 0..rng.below(4) {
                let offset = (rng.below(tables_end as u64 / 8) * 8) as usize;
                let value = match rng.below(3) {
                    0 => interesting[rng.below(interesting.len() as u64) as usize],
                    1 => mem
                        .load_u64(offset)
                        .wrapping_add(rng.below(3))
                        .wrapping_sub(1),
                    _ => rng.next_u64(),
                };
                mem.store_u64(offset, value);
            }
            let len = rng.below(SLOT_DATA_SIZE as u64 + 2) as usize;
            let op = Opcode::ALL[rng.below(Opcode::ALL.len() as u64) as usize];
            let results = [
                lwk.io
                    .send(Call::new(JobId(1), op), &buf[..len.min(buf.len())])
                    .map(drop),
                linux
                    .control
                    .send(Call::new(JobId(2), Opcode::JobStart), &buf[..len % 64])
                    .map(drop),
                match linux.io.try_recv() {
                    Ok(Some(r)) => {
                        let seq = r.request().seq;
                        r.read_data(rng.below(1 << 17) as u32, &mut buf);
                        r.release();
                        linux.io.reply(seq, Ok(len as u64), &buf[..len % 100])
                    }
                    other => other.map(drop),
                },
                match lwk.control.try_recv() {
                    Ok(Some(r)) => {
                        r.read_data(0, &mut buf);
                        let seq = r.request().seq;
                        r.release();
                        lwk.control.reply(seq, Err(Errno::EBUSY), &[])
                    }
                    other => other.map(drop),
                },
                lwk.io
                    .try_recv()
                    .map(|r| r.map(|r| r.read_data(0, &mut buf)).map(drop).unwrap_or(())),
                linux
                    .control
                    .try_recv()
                    .map(|r| r.map(|r| r.release()).unwrap_or(())),
                lwk.io
                    .call(
                        FSYNC,
                        &[],
                        &mut buf,
                        &mut FakeClock(0),
                        Duration::from_micros(50),
                    )
                    .map(drop),
                linux.check_lwk(),
                lwk.liveness.peer_status().map(drop),
            ];
            errors += results.iter().filter(|r| r.is_err()).count();
            oks += results.iter().filter(|r| r.is_ok()).count();
        }
        if round % 100 == 0 {
            eprintln!("round {round}: {oks} ok, {errors} errors so far");
        }
    }
    eprintln!("{oks} ok, {errors} errors");
    assert!(errors > 0, "corruption went unnoticed");
    assert!(
        oks > errors,
        "traffic should mostly flow between sparse corruptions"
    );
}
