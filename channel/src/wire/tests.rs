use super::*;

#[test]
fn layout_is_ordered_aligned_and_disjoint() {
    let mut end = PAGE_SIZE;
    for ring in RingId::ALL {
        let l = ring.layout();
        assert_eq!(l.slots_offset % PAGE_SIZE, 0);
        assert!(l.slots_offset >= end);
        end = l.slots_offset + l.slot_count as usize * l.slot_size as usize;
    }
    for ring in RingId::ALL {
        let l = ring.layout();
        assert_eq!(l.data_offset % SLOT_DATA_SIZE, 0);
        assert!(l.data_offset >= end);
        end = l.data_offset + l.slot_count as usize * SLOT_DATA_SIZE;
    }
    assert_eq!(end, LAYOUT_END);
}

/// The offsets drawn in the crate docs and README; a layout change must
/// update those (and VERSION) together with this test.
#[test]
fn layout_matches_the_documented_diagram() {
    let documented = [
        (0x001000, 0x010000),
        (0x003000, 0x410000),
        (0x004000, 0x810000),
        (0x005000, 0x850000),
    ];
    for (ring, (slots, data)) in RingId::ALL.into_iter().zip(documented) {
        assert_eq!(
            (ring.layout().slots_offset, ring.layout().data_offset),
            (slots, data)
        );
    }
    assert_eq!(LAYOUT_END, 0x890000);
    assert_eq!(MAGIC, 0x004e_4148_434b_574c);
    assert_eq!(VERSION, 1);
}

#[test]
fn data_range_rejects_overflow_and_overrun() {
    assert!(DataRange::new(0, SLOT_DATA_SIZE as u32).is_some());
    assert!(DataRange::new(1, SLOT_DATA_SIZE as u32).is_none());
    assert!(DataRange::new(u32::MAX, u32::MAX).is_none());
    assert!(DataRange::new(SLOT_DATA_SIZE as u32, 0).is_some());
}

#[test]
fn results_outside_errno_range_are_invalid() {
    assert!(Response::result_is_valid(0));
    assert!(Response::result_is_valid(i64::MAX));
    assert!(Response::result_is_valid(-(MAX_ERRNO as i64)));
    assert!(!Response::result_is_valid(-(MAX_ERRNO as i64) - 1));
    assert!(!Response::result_is_valid(i64::MIN));
}

#[test]
fn ring_producers_form_two_pairs() {
    assert_eq!(RingId::IoRequests.producer(), Side::Lwk);
    assert_eq!(RingId::IoResponses.producer(), Side::Linux);
    assert_eq!(RingId::ControlRequests.producer(), Side::Linux);
    assert_eq!(RingId::ControlResponses.producer(), Side::Lwk);
    assert_eq!(Side::Lwk.peer(), Side::Linux);
}
