use std::vec::Vec;

use super::*;
use crate::wire::{Call, JobId, Opcode, Request, Response, REGION_SIZE, SLOT_DATA_SIZE};

fn memory() -> Vec<AtomicU64> {
    (0..REGION_SIZE / 8).map(|_| AtomicU64::new(0)).collect()
}

/// A request ring whose indices both start at `start`.
fn pair_at(region: Region<'_>, start: u32) -> (Producer<'_, Request>, Consumer<'_, Request>) {
    let ring = Ring::<Request>::new(region, RingId::IoRequests);
    ring.format();
    ring.control.head.store(start, Relaxed);
    ring.control.tail.store(start, Relaxed);
    let producer = Producer::adopt(ring).unwrap();
    let consumer = Consumer::adopt_discarding(Ring::new(region, RingId::IoRequests));
    (producer, consumer)
}

fn request(seq: u64, len: u32) -> Request {
    let call = Call::new(JobId(7), Opcode::Write).arg(0, seq).arg(5, !seq);
    Request {
        seq,
        call,
        data: DataRange::new(0, len).unwrap(),
    }
}

fn send(producer: &mut Producer<'_, Request>, seq: u64, data: &[u8]) -> Result<(), ChannelError> {
    let mut slot = producer.reserve()?;
    slot.write_data(0, data)?;
    slot.publish(&request(seq, data.len() as u32));
    Ok(())
}

fn recv(consumer: &mut Consumer<'_, Request>) -> Result<Option<(Request, Vec<u8>)>, ChannelError> {
    let Some(incoming) = consumer.peek()? else {
        return Ok(None);
    };
    let msg = *incoming.message();
    let mut buf = std::vec![0; msg.data.len() as usize];
    assert_eq!(incoming.read_data(0, &mut buf), buf.len());
    incoming.release();
    Ok(Some((msg, buf)))
}

#[test]
fn copies_are_exact_at_every_offset_and_length() {
    let area: Vec<AtomicU64> = (0..8).map(|_| AtomicU64::new(u64::MAX)).collect();
    for offset in 0..17 {
        for len in 0..40 {
            for w in &area {
                w.store(u64::MAX, Relaxed);
            }
            let src: Vec<u8> = (0..len).map(|i| i as u8).collect();
            copy_in(&area, offset, &src);
            let mut all = [0u8; 64];
            copy_out(&area, 0, &mut all);
            for (i, &b) in all.iter().enumerate() {
                let want = if (offset..offset + len).contains(&i) {
                    (i - offset) as u8
                } else {
                    0xff
                };
                assert_eq!(b, want, "offset {offset} len {len} byte {i}");
            }
            let mut back = std::vec![0u8; len];
            copy_out(&area, offset, &mut back);
            assert_eq!(back, src);
        }
    }
}

#[test]
fn indices_wrap_around_u32() {
    let mem = memory();
    let region = Region::from_words(&mem).unwrap();
    let (mut producer, mut consumer) = pair_at(region, u32::MAX - 100);
    for seq in 0..1000u64 {
        let data = seq.to_le_bytes();
        send(&mut producer, seq, &data[..(seq % 9) as usize]).unwrap();
        if seq % 3 == 2 {
            // Keep a few messages queued across the wrap.
            for _ in 0..3 {
                let (msg, data) = recv(&mut consumer).unwrap().unwrap();
                assert_eq!(data, msg.seq.to_le_bytes()[..(msg.seq % 9) as usize]);
                assert_eq!(msg.call.args[5], !msg.seq);
            }
        }
    }
    assert_eq!(recv(&mut consumer).unwrap().map(|m| m.0.seq), Some(999));
    assert!(consumer.tail < 1000, "the index wrapped");
    assert_eq!(recv(&mut consumer), Ok(None));
}

#[test]
fn full_ring_refuses_until_a_slot_is_released() {
    let mem = memory();
    let region = Region::from_words(&mem).unwrap();
    let (mut producer, mut consumer) = pair_at(region, INITIAL_INDEX);
    let cap = RingId::IoRequests.layout().slot_count;
    for seq in 0..u64::from(cap) {
        send(&mut producer, seq, b"x").unwrap();
    }
    assert_eq!(producer.free(), Ok(0));
    assert!(matches!(producer.reserve(), Err(ChannelError::Full)));
    assert_eq!(consumer.available(), Ok(cap));
    // Peeking without releasing frees nothing.
    let _ = consumer.peek().unwrap();
    assert!(matches!(producer.reserve(), Err(ChannelError::Full)));
    assert_eq!(recv(&mut consumer).unwrap().unwrap().0.seq, 0);
    send(&mut producer, 99, b"y").unwrap();
}

#[test]
fn data_outside_the_slot_is_refused_on_write() {
    let mem = memory();
    let region = Region::from_words(&mem).unwrap();
    let (mut producer, _) = pair_at(region, 0);
    let mut slot = producer.reserve().unwrap();
    let big = std::vec![0u8; SLOT_DATA_SIZE + 1];
    assert!(matches!(
        slot.write_data(0, &big),
        Err(ChannelError::DataTooLarge { .. })
    ));
    assert!(matches!(
        slot.write_data(u32::MAX, b"a"),
        Err(ChannelError::DataTooLarge { .. })
    ));
    assert!(slot.write_data(0, &big[1..]).is_ok());
}

#[test]
fn incoherent_indices_are_fatal_and_leave_the_ring_alone() {
    let mem = memory();
    let region = Region::from_words(&mem).unwrap();
    let (mut producer, mut consumer) = pair_at(region, 5);
    let cap = RingId::IoRequests.layout().slot_count;
    let control = &region.view::<RegionHeader>(0).controls[0];
    for head in [5 + cap + 1, 4, u32::MAX] {
        control.head.store(head, Relaxed);
        let err = consumer.peek().err().unwrap();
        assert_eq!(
            err,
            ChannelError::CorruptIndex {
                ring: RingId::IoRequests,
                head,
                tail: 5
            }
        );
        assert!(err.is_fatal());
        assert_eq!(control.tail.load(Relaxed), 5);
    }
    control.head.store(5, Relaxed);
    control.tail.store(5 + 1, Relaxed);
    assert!(matches!(
        producer.reserve(),
        Err(ChannelError::CorruptIndex { .. })
    ));
    control.tail.store(5, Relaxed);
    send(&mut producer, 1, b"ok").unwrap();
    assert_eq!(recv(&mut consumer).unwrap().unwrap().1, b"ok");
}

#[test]
fn a_published_but_unwritten_slot_is_stale() {
    let mem = memory();
    let region = Region::from_words(&mem).unwrap();
    let ring = Ring::<Request>::new(region, RingId::IoRequests);
    let (mut producer, mut consumer) = (
        Producer::formatted(ring),
        Consumer::formatted(Ring::new(region, RingId::IoRequests)),
    );
    let control = &region.view::<RegionHeader>(0).controls[0];
    // The peer bumps head without writing: the formatter's stamps catch it.
    control.head.store(INITIAL_INDEX + 1, Release);
    let expected = INITIAL_INDEX;
    let found = INITIAL_INDEX - RingId::IoRequests.layout().slot_count;
    let err = consumer.peek().err().unwrap();
    assert_eq!(
        err,
        ChannelError::StaleSlot {
            ring: RingId::IoRequests,
            expected,
            found
        }
    );
    // After a full lap, an old slot is stale too.
    control.head.store(INITIAL_INDEX, Release);
    producer.head = INITIAL_INDEX;
    send(&mut producer, 1, b"").unwrap();
    recv(&mut consumer).unwrap().unwrap();
    let lap = RingId::IoRequests.layout().slot_count;
    control.head.store(INITIAL_INDEX + 1 + lap, Release);
    consumer.tail = INITIAL_INDEX + lap;
    assert!(matches!(
        consumer.peek(),
        Err(ChannelError::StaleSlot { .. })
    ));
}

#[test]
fn a_malformed_message_is_consumed_and_reported() {
    let mem = memory();
    let region = Region::from_words(&mem).unwrap();
    let (mut producer, mut consumer) = pair_at(region, 0);
    send(&mut producer, 1, b"bad").unwrap();
    send(&mut producer, 2, b"good").unwrap();
    let slots =
        region.view_slice::<crate::wire::RequestSlot>(RingId::IoRequests.layout().slots_offset, 2);
    slots[0].opcode.store(12345, Relaxed);
    assert_eq!(
        consumer.peek().err(),
        Some(ChannelError::BadOpcode {
            seq: 1,
            opcode: 12345
        })
    );
    assert_eq!(recv(&mut consumer).unwrap().unwrap().1, b"good");
}

#[test]
fn responses_with_impossible_fields_are_refused() {
    let mem = memory();
    let region = Region::from_words(&mem).unwrap();
    let mut producer = Producer::<Response>::formatted(Ring::new(region, RingId::IoResponses));
    let mut consumer = Consumer::<Response>::formatted(Ring::new(region, RingId::IoResponses));
    let slots = region
        .view_slice::<crate::wire::ResponseSlot>(RingId::IoResponses.layout().slots_offset, 2);
    producer.reserve().unwrap().publish(&Response {
        seq: 3,
        result: 0,
        data_len: 0,
    });
    slots[0].result.store(-4096, Relaxed);
    assert_eq!(
        consumer.peek().err(),
        Some(ChannelError::BadResult {
            seq: 3,
            result: -4096
        })
    );
    producer.reserve().unwrap().publish(&Response {
        seq: 4,
        result: 0,
        data_len: 0,
    });
    slots[1].data_len.store(SLOT_DATA_SIZE as u32 + 1, Relaxed);
    let err = consumer.peek().err();
    let len = SLOT_DATA_SIZE as u32 + 1;
    assert_eq!(
        err,
        Some(ChannelError::DataOutOfBounds {
            seq: 4,
            offset: 0,
            len
        })
    );
    assert_eq!(consumer.available(), Ok(0));
}
