//! The two ends working together: round trips, ordering, wraparound, limits,
//! timeouts, restarts.

mod common;

use std::time::Duration;

use channel::job::{JobExit, JobSpec, JobStart};
use channel::wire::{SideStatus, CONTROL_SLOTS, INITIAL_INDEX, IO_SLOTS, SLOT_DATA_SIZE};
use channel::{
    Call, ChannelError, Errno, JobId, LinuxEndpoint, LwkEndpoint, Opcode, Requester, Responder,
};
use common::{FakeClock, Mem, RealTime, PATIENCE};

fn connect(mem: &Mem) -> (LwkEndpoint<'_>, LinuxEndpoint<'_>) {
    let lwk = LwkEndpoint::format(mem.region());
    let linux = LinuxEndpoint::attach(mem.region(), &mut FakeClock(0), Duration::ZERO).unwrap();
    (lwk, linux)
}

/// Receives one request, returning it with its data.
fn serve_one(io: &mut Responder<'_>) -> (channel::Request, Vec<u8>) {
    let incoming = io.try_recv().unwrap().expect("a request");
    let request = *incoming.request();
    let mut data = vec![0; request.data.len() as usize];
    assert_eq!(incoming.read_data(0, &mut data), data.len());
    incoming.release();
    (request, data)
}

/// Receives one response, returning it with its data.
fn answer_one(io: &mut Requester<'_>) -> (channel::Response, Vec<u8>) {
    let incoming = io.try_recv().unwrap().expect("a response");
    let response = *incoming.response();
    let mut data = vec![0; response.data_len as usize];
    assert_eq!(incoming.read_data(0, &mut data), data.len());
    incoming.release();
    (response, data)
}

#[test]
fn io_round_trips_carry_arguments_and_data_both_ways() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let open = Call::new(JobId(1), Opcode::Openat)
        .arg(0, -100i64 as u64)
        .arg(2, 0o2)
        .arg(3, 0o644);
    let seq = lwk.io.send(open, b"/mnt/file\0").unwrap();
    assert_eq!(seq, 1);
    assert_eq!(
        linux
            .io
            .try_recv()
            .unwrap()
            .map(|r| *r.request())
            .unwrap()
            .call,
        open
    );
    let (request, path) = serve_one(&mut linux.io);
    assert_eq!((request.seq, path.as_slice()), (1, &b"/mnt/file\0"[..]));
    linux.io.reply(request.seq, Ok(3), &[]).unwrap();
    let (response, _) = answer_one(&mut lwk.io);
    assert_eq!((response.seq, response.outcome()), (1, Ok(3)));

    let seq = lwk
        .io
        .send(Call::new(JobId(1), Opcode::Read).arg(0, 3).arg(2, 100), &[])
        .unwrap();
    let (request, data) = serve_one(&mut linux.io);
    assert!(data.is_empty());
    let contents: Vec<u8> = (0..100).collect();
    linux.io.reply(request.seq, Ok(100), &contents).unwrap();
    let (response, data) = answer_one(&mut lwk.io);
    assert_eq!((response.seq, response.result, data), (seq, 100, contents));

    lwk.io
        .send(Call::new(JobId(1), Opcode::Close).arg(0, 42), &[])
        .unwrap();
    let (request, _) = serve_one(&mut linux.io);
    linux.io.reply(request.seq, Err(Errno::EBADF), &[]).unwrap();
    assert_eq!(answer_one(&mut lwk.io).0.outcome(), Err(Errno::EBADF));
    assert_eq!(lwk.io.in_flight(), 0);
}

#[test]
fn writers_append_and_write_at_offsets() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let mut w = lwk
        .io
        .begin(Call::new(JobId(1), Opcode::Writev).arg(2, 2))
        .unwrap();
    w.write(&3u64.to_le_bytes()).unwrap();
    w.write(&2u64.to_le_bytes()).unwrap();
    w.write(b"abc").unwrap();
    w.write_at(19, b"de").unwrap();
    assert_eq!((w.len(), w.seq()), (21, 1));
    w.submit();
    let (_, data) = serve_one(&mut linux.io);
    assert_eq!(&data[16..], b"abcde");
    // A writer dropped unsubmitted sends nothing and uses no sequence number.
    let _ = lwk.io.begin(Call::new(JobId(1), Opcode::Fsync)).unwrap();
    assert_eq!(linux.io.available(), Ok(0));
    assert_eq!(lwk.io.next_seq(), 2);
    let mut r = linux.io.begin_reply(1, Ok(5)).unwrap();
    r.write_at(4, b"!").unwrap();
    r.write_at(0, b"done").unwrap();
    assert_eq!(r.len(), 5);
    r.submit();
    assert_eq!(answer_one(&mut lwk.io).1, b"done!");
}

#[test]
fn responses_may_come_in_any_order() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    for fd in 0..5 {
        lwk.io
            .send(Call::new(JobId(1), Opcode::Fsync).arg(0, fd), &[])
            .unwrap();
    }
    let requests: Vec<_> = (0..5).map(|_| serve_one(&mut linux.io).0).collect();
    assert_eq!(
        requests.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    for r in requests.iter().rev() {
        linux.io.reply(r.seq, Ok(r.call.args[0]), &[]).unwrap();
    }
    assert_eq!(lwk.io.in_flight(), 5);
    for seq in (1..=5).rev() {
        let (response, _) = answer_one(&mut lwk.io);
        assert_eq!((response.seq, response.result), (seq, seq as i64 - 1));
    }
    assert_eq!(lwk.io.in_flight(), 0);
    assert!(lwk.io.try_recv().unwrap().is_none());
}

#[test]
fn sequences_and_indices_survive_the_wrap() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    // Indices start 1024 short of wrapping; go well past it.
    for i in 0..3000u64 {
        let data = i.to_le_bytes();
        let seq = lwk
            .io
            .send(Call::new(JobId(1), Opcode::Write).arg(0, i), &data)
            .unwrap();
        let (request, got) = serve_one(&mut linux.io);
        assert_eq!(
            (request.seq, request.call.args[0], got.as_slice()),
            (seq, i, &data[..])
        );
        linux
            .io
            .reply(seq, Ok(i), &data[..(i % 8) as usize])
            .unwrap();
        let (response, back) = answer_one(&mut lwk.io);
        assert_eq!(
            (response.seq, response.result, back.as_slice()),
            (seq, i as i64, &data[..(i % 8) as usize])
        );
    }
    let head = mem.load_u32(common::head_offset(channel::wire::RingId::IoRequests));
    assert_eq!(head, INITIAL_INDEX.wrapping_add(3000));
    assert!(head < 3000);
}

#[test]
fn a_full_ring_or_full_table_refuses_instead_of_blocking() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let fsync = Call::new(JobId(1), Opcode::Fsync);
    for _ in 0..IO_SLOTS {
        lwk.io.send(fsync, &[]).unwrap();
    }
    assert_eq!(lwk.io.send(fsync, &[]), Err(ChannelError::Full));
    // The daemon takes one: the ring has room, but 64 answers are owed.
    let (request, _) = serve_one(&mut linux.io);
    assert_eq!(lwk.io.send(fsync, &[]), Err(ChannelError::Full));
    linux.io.reply(request.seq, Ok(0), &[]).unwrap();
    answer_one(&mut lwk.io);
    lwk.io.send(fsync, &[]).unwrap();

    let spec = JobSpec {
        exe: b"/p",
        argv: &[],
        envp: &[],
        cores: 1,
    };
    let mut buf = [0u8; 8];
    let n = spec.encode(&mut buf).unwrap();
    for job in 0..CONTROL_SLOTS {
        linux
            .control
            .send(spec.call(JobId(job)), &buf[..n])
            .unwrap();
    }
    assert_eq!(
        linux.control.send(spec.call(JobId(9)), &buf[..n]),
        Err(ChannelError::Full)
    );
}

#[test]
fn local_mistakes_are_refused_before_anything_is_sent() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let start = Call::new(JobId(1), Opcode::JobStart);
    assert_eq!(
        lwk.io.send(start, &[]),
        Err(ChannelError::WrongRing {
            seq: 1,
            opcode: Opcode::JobStart
        })
    );
    let read = Call::new(JobId(1), Opcode::Read);
    assert!(matches!(
        linux.control.send(read, &[]),
        Err(ChannelError::WrongRing { .. })
    ));
    let big = vec![0u8; SLOT_DATA_SIZE + 1];
    assert!(matches!(
        lwk.io.send(read, &big),
        Err(ChannelError::DataTooLarge { .. })
    ));
    assert_eq!(
        linux.io.reply(1, Ok(u64::MAX), &[]),
        Err(ChannelError::BadResult { seq: 1, result: -1 })
    );
    assert_eq!(linux.io.available(), Ok(0));
    assert_eq!(lwk.io.send(read, &big[1..]), Ok(1));
}

#[test]
fn call_against_a_serving_thread() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut waiter = RealTime::new();
            for _ in 0..200 {
                let incoming = linux.io.recv(&mut waiter, PATIENCE).unwrap();
                let request = *incoming.request();
                let mut data = vec![0; request.data.len() as usize];
                incoming.read_data(0, &mut data);
                incoming.release();
                data.reverse();
                linux
                    .io
                    .reply(request.seq, Ok(data.len() as u64), &data)
                    .unwrap();
            }
        });
        let mut waiter = RealTime::new();
        let mut reply = vec![0; 1000];
        for i in 0..200usize {
            let data: Vec<u8> = (0..i as u8).collect();
            let call = Call::new(JobId(1), Opcode::Pwrite64);
            let response = lwk
                .io
                .call(call, &data, &mut reply, &mut waiter, PATIENCE)
                .unwrap();
            assert_eq!(response.result, i as i64);
            let back: Vec<u8> = reply[..i].iter().rev().copied().collect();
            assert_eq!(back, data);
        }
    });
}

#[test]
fn call_times_out_and_a_late_answer_is_dropped() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let mut clock = FakeClock(0);
    let fsync = Call::new(JobId(1), Opcode::Fsync);
    let r = lwk
        .io
        .call(fsync, &[], &mut [], &mut clock, Duration::from_millis(5));
    assert_eq!(r, Err(ChannelError::Timeout));
    assert!((5_000_000..7_000_000).contains(&clock.0), "{}", clock.0);
    assert_eq!(lwk.io.in_flight(), 1);
    // Still one abandoned request in flight, but nobody waits: not busy.
    let seq = lwk.io.send(fsync, &[]).unwrap();
    assert_eq!(
        lwk.io.call(fsync, &[], &mut [], &mut clock, Duration::ZERO),
        Err(ChannelError::Busy)
    );
    for _ in 0..2 {
        let (request, _) = serve_one(&mut linux.io);
        linux.io.reply(request.seq, Ok(request.seq), &[]).unwrap();
    }
    // The late answer to request 1 is dropped; request 2's is delivered.
    assert_eq!(answer_one(&mut lwk.io).0.seq, seq);
    assert_eq!(lwk.io.in_flight(), 0);
}

#[test]
fn call_reports_a_reply_too_large_for_its_buffer() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    // Let the LWK see the daemon's generation (its first look drops answers
    // queued while nothing was in flight), then queue the answer request 1
    // will get.
    assert!(lwk.io.try_recv().unwrap().is_none());
    linux.io.reply(1, Ok(10), &[7; 10]).unwrap();
    let r = lwk.io.call(
        Call::new(JobId(1), Opcode::Read),
        &[],
        &mut [0; 4],
        &mut FakeClock(0),
        PATIENCE,
    );
    assert_eq!(r, Err(ChannelError::BufferTooSmall { seq: 1, needed: 10 }));
    assert_eq!(lwk.io.in_flight(), 0);
}

#[test]
fn jobs_start_on_the_control_pair_and_exit_on_the_io_pair() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let argv: [&[u8]; 2] = [b"hello", b"world"];
    let envp: [&[u8]; 1] = [b"PATH=/bin"];
    let spec = JobSpec {
        exe: b"/mnt/hello",
        argv: &argv,
        envp: &envp,
        cores: 0b10,
    };
    let mut buf = vec![0u8; spec.encoded_len()];
    spec.encode(&mut buf).unwrap();
    let seq = linux.control.send(spec.call(JobId(5)), &buf).unwrap();

    let incoming = lwk.control.try_recv().unwrap().unwrap();
    let request = *incoming.request();
    let mut data = vec![0; request.data.len() as usize];
    incoming.read_data(0, &mut data);
    incoming.release();
    let job = JobStart::decode(&request, &data).unwrap();
    assert_eq!(
        (job.job, job.exe, job.cores),
        (JobId(5), &b"/mnt/hello"[..], 0b10)
    );
    assert_eq!(job.argv.collect::<Vec<_>>(), argv);
    lwk.control.reply(seq, Ok(0), &[]).unwrap();
    assert_eq!(answer_one(&mut linux.control).0.outcome(), Ok(0));

    let exit = JobExit::Signaled {
        signal: 11,
        fault_addr: 8,
        ip: 0x401234,
    };
    lwk.io.send(exit.call(JobId(5)), &[]).unwrap();
    let (request, _) = serve_one(&mut linux.io);
    assert_eq!(
        (request.call.job, JobExit::decode(&request)),
        (JobId(5), Ok(exit))
    );
}

#[test]
fn attach_waits_for_the_format_and_times_out() {
    let mem = Mem::new();
    let mut clock = FakeClock(0);
    let r = LinuxEndpoint::attach(mem.region(), &mut clock, Duration::from_millis(2));
    assert_eq!(r.err(), Some(ChannelError::Timeout));
    assert!(clock.0 >= 2_000_000);
    // The daemon may come first; the LWK formats while it waits.
    std::thread::scope(|s| {
        let daemon = s.spawn(|| {
            LinuxEndpoint::attach(mem.region(), &mut RealTime::new(), PATIENCE).map(|_| ())
        });
        std::thread::sleep(Duration::from_millis(20));
        let _lwk = LwkEndpoint::format(mem.region());
        assert_eq!(daemon.join().unwrap(), Ok(()));
    });
}

#[test]
fn a_closed_peer_is_down() {
    let mem = Mem::new();
    let (mut lwk, linux) = connect(&mem);
    let status = lwk.liveness.peer_status().unwrap();
    assert_eq!((status.status, status.generation), (SideStatus::Up, 1));
    linux.liveness.beat();
    assert_eq!(lwk.liveness.peer_status().unwrap().heartbeat, 1);
    linux.liveness.close();
    assert_eq!(
        lwk.io.send(Call::new(JobId(1), Opcode::Fsync), &[]),
        Err(ChannelError::PeerDown)
    );
    let r = lwk.io.call(
        Call::new(JobId(1), Opcode::Fsync),
        &[],
        &mut [],
        &mut FakeClock(0),
        PATIENCE,
    );
    assert_eq!(r, Err(ChannelError::PeerDown));
    lwk.liveness.close();
    assert_eq!(linux.check_lwk(), Err(ChannelError::PeerDown));
}

#[test]
fn answers_sent_before_closing_are_still_delivered() {
    let mem = Mem::new();
    let (mut lwk, mut linux) = connect(&mem);
    let exit = channel::job::JobExit::Exited { code: 0 };
    let seq = lwk.io.send(exit.call(JobId(1)), &[]).unwrap();
    let second = lwk
        .io
        .send(Call::new(JobId(1), Opcode::Fsync), &[])
        .unwrap();
    serve_one(&mut linux.io);
    linux.io.reply(seq, Ok(0), &[]).unwrap();
    linux.liveness.close();
    assert_eq!(answer_one(&mut lwk.io).0.seq, seq);
    // The second request will never be answered.
    assert_eq!(lwk.io.try_recv().err(), Some(ChannelError::PeerDown));
    lwk.io.abandon(second);
    assert!(lwk.io.try_recv().unwrap().is_none());
}

#[test]
fn a_restarted_daemon_fails_what_was_in_flight() {
    let mem = Mem::new();
    let (mut lwk, mut old) = connect(&mem);
    let fsync = Call::new(JobId(1), Opcode::Fsync);
    let first = lwk.io.send(fsync, &[]).unwrap();
    let (request, _) = serve_one(&mut old.io);
    old.io.reply(request.seq, Ok(0), &[]).unwrap();
    lwk.io.send(fsync, &[]).unwrap();
    // The old daemon dies here: `old` is never used again.
    // The new daemon drops the request queued for its predecessor.
    let mut new = LinuxEndpoint::attach(mem.region(), &mut FakeClock(0), Duration::ZERO).unwrap();
    assert_eq!(new.liveness.generation(), 2);
    assert_eq!(new.io.available(), Ok(0));
    assert!(lwk
        .io
        .try_recv()
        .is_err_and(|e| e == ChannelError::PeerRestarted { generation: 2 }));
    // The answer to `first` from the old daemon is gone with it.
    assert_eq!(lwk.io.in_flight(), 0);
    assert!(lwk.io.try_recv().unwrap().is_none());
    let seq = lwk.io.send(fsync, &[]).unwrap();
    assert!(seq > first);
    let (request, _) = serve_one(&mut new.io);
    new.io.reply(request.seq, Ok(0), &[]).unwrap();
    assert_eq!(answer_one(&mut lwk.io).0.seq, seq);
}

#[test]
fn a_daemon_notices_the_lwk_formatting_again() {
    let mem = Mem::new();
    let (_lwk, linux) = connect(&mem);
    assert_eq!(linux.check_lwk(), Ok(()));
    let _lwk = LwkEndpoint::format(mem.region());
    assert_eq!(
        linux.check_lwk(),
        Err(ChannelError::PeerRestarted { generation: 2 })
    );
    let linux = LinuxEndpoint::attach(mem.region(), &mut FakeClock(0), Duration::ZERO).unwrap();
    assert_eq!(linux.check_lwk(), Ok(()));
}

#[test]
fn waiting_for_a_linux_side_that_never_comes_times_out() {
    let mem = Mem::new();
    let lwk = LwkEndpoint::format(mem.region());
    // Nobody attached: a bounded wait, then Timeout (the fake clock makes
    // the wait exact and instant).
    let mut clock = FakeClock(0);
    let r = lwk
        .liveness
        .wait_for_peer(&mut clock, Duration::from_secs(2));
    assert_eq!(r, Err(ChannelError::Timeout));
    assert!(clock.0 >= 2_000_000_000 && clock.0 < 2_100_000_000);

    // Once the daemon attaches, the wait returns its status at once.
    let linux = LinuxEndpoint::attach(mem.region(), &mut FakeClock(0), Duration::ZERO).unwrap();
    let status = lwk
        .liveness
        .wait_for_peer(&mut FakeClock(0), Duration::ZERO)
        .unwrap();
    assert_eq!((status.status, status.generation), (SideStatus::Up, 1));
    // A daemon that closed is down, without waiting out the timeout.
    linux.liveness.close();
    let r = lwk
        .liveness
        .wait_for_peer(&mut FakeClock(0), Duration::from_secs(3600));
    assert_eq!(r, Err(ChannelError::PeerDown));
}
