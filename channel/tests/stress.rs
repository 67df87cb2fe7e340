//! Two threads, one per side, exchanging many random-size messages on all
//! four rings at once, checking contents, ordering, and that every request
//! is answered exactly once.
//!
//! `CHANNEL_STRESS_MESSAGES` sets the number of I/O requests (default 20000);
//! `CHANNEL_TEST_SEED` replays a run.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use channel::job::{JobSpec, JobStart};
use channel::wire::SLOT_DATA_SIZE;
use channel::{Call, ChannelError, JobId, LinuxEndpoint, LwkEndpoint, Opcode};
use common::{FakeClock, Mem, Rng};

/// FNV-1a: the requester puts it in an argument, the responder checks it.
fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Mostly small messages, some empty, some up to a whole slot.
fn random_len(rng: &mut Rng) -> usize {
    match rng.below(16) {
        0 => rng.below(SLOT_DATA_SIZE as u64 + 1) as usize,
        1..=3 => 0,
        _ => rng.below(600) as usize,
    }
}

/// The job the daemon starts as its `n`th, reproducible on the other side.
fn job_strings(n: u64) -> (Vec<u8>, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut rng = Rng(n);
    let exe = format!("/mnt/prog{n}").into_bytes();
    let argv = (0..rng.below(6))
        .map(|i| format!("arg{i}-{}", rng.next_u64()).into_bytes())
        .collect();
    let envp = (0..rng.below(4))
        .map(|i| format!("E{i}={}", rng.below(1000)).into_bytes())
        .collect();
    (exe, argv, envp)
}

fn check_deadline(start: Instant, what: &str) {
    assert!(
        start.elapsed() < Duration::from_secs(300),
        "{what}: stress test stalled"
    );
}

fn lwk_side(
    mut lwk: LwkEndpoint<'_>,
    seed: u64,
    messages: u64,
    lwk_done: &AtomicBool,
    daemon_done: &AtomicBool,
) {
    let start = Instant::now();
    let mut rng = Rng(seed);
    let mut outstanding: HashMap<u64, Vec<u8>> = HashMap::new();
    let (mut sent, mut answered, mut jobs) = (0u64, 0u64, 0u64);
    let mut window = 1;
    let mut buf = vec![0u8; SLOT_DATA_SIZE];
    while answered < messages || !daemon_done.load(SeqCst) {
        check_deadline(start, "lwk");
        // Our own work is done; keep serving job starts until the daemon's is.
        if answered == messages {
            lwk_done.store(true, SeqCst);
        }
        let mut idle = true;
        if rng.below(256) == 0 {
            window = 1 + rng.below(64) as usize;
        }
        if sent < messages && outstanding.len() < window {
            let mut data = vec![0; random_len(&mut rng)];
            rng.fill(&mut data);
            let op = Opcode::ALL[rng.below(24) as usize];
            let call = Call::new(JobId(1), op)
                .arg(0, data.len() as u64)
                .arg(1, checksum(&data));
            match lwk.io.send(call, &data) {
                Ok(seq) => {
                    assert!(outstanding.insert(seq, data).is_none());
                    sent += 1;
                    idle = false;
                }
                Err(ChannelError::Full) => {}
                Err(e) => panic!("lwk send: {e}"),
            }
        }
        while let Some(incoming) = lwk.io.try_recv().expect("lwk recv") {
            let response = *incoming.response();
            let n = incoming.read_data(0, &mut buf);
            incoming.release();
            let mut data = outstanding
                .remove(&response.seq)
                .expect("an answer to an open request");
            data.reverse();
            assert_eq!(response.result, data.len() as i64);
            assert_eq!(
                &buf[..n],
                &data[..],
                "answer {} carries the reversed data",
                response.seq
            );
            answered += 1;
            idle = false;
        }
        while let Some(incoming) = lwk.control.try_recv().expect("lwk control") {
            let request = *incoming.request();
            let n = incoming.read_data(0, &mut buf);
            incoming.release();
            let job = JobStart::decode(&request, &buf[..n]).expect("a valid job start");
            let (exe, argv, envp) = job_strings(u64::from(job.job.0));
            assert_eq!(u64::from(job.job.0), jobs, "job starts arrive in order");
            assert_eq!(job.exe, exe);
            assert!(job.argv.eq(argv.iter().map(Vec::as_slice)));
            assert!(job.envp.eq(envp.iter().map(Vec::as_slice)));
            let reply = job.job.0.to_le_bytes();
            lwk.control
                .reply(request.seq, Ok(jobs), &reply)
                .expect("lwk control reply");
            jobs += 1;
            idle = false;
        }
        if idle {
            std::thread::yield_now();
        }
    }
    assert!(outstanding.is_empty());
    eprintln!(
        "lwk: {sent} requests answered, {jobs} jobs started in {:?}",
        start.elapsed()
    );
}

fn linux_side(mut linux: LinuxEndpoint<'_>, seed: u64, jobs: u64, lwk_done: &AtomicBool) {
    let start = Instant::now();
    let mut rng = Rng(!seed);
    let mut next_seq = 1;
    let mut held: Vec<(u64, Vec<u8>)> = Vec::new();
    let (mut jobs_sent, mut jobs_answered) = (0u64, 0u64);
    let mut open_jobs: HashMap<u64, u64> = HashMap::new();
    let mut buf = vec![0u8; SLOT_DATA_SIZE];
    while !(lwk_done.load(SeqCst) && held.is_empty()) || jobs_answered < jobs {
        check_deadline(start, "linux");
        let mut idle = true;
        while let Some(incoming) = linux.io.try_recv().expect("linux recv") {
            let request = *incoming.request();
            let n = incoming.read_data(0, &mut buf);
            incoming.release();
            assert_eq!(request.seq, next_seq, "requests arrive in order, none lost");
            next_seq += 1;
            assert_eq!(request.call.args[0], n as u64);
            assert_eq!(
                request.call.args[1],
                checksum(&buf[..n]),
                "request {} intact",
                request.seq
            );
            held.push((request.seq, buf[..n].to_vec()));
            idle = false;
        }
        // Answer in random order, sometimes letting a backlog build up.
        while !held.is_empty() && rng.below(3) != 0 {
            let (seq, mut data) = held.swap_remove(rng.below(held.len() as u64) as usize);
            data.reverse();
            match linux.io.reply(seq, Ok(data.len() as u64), &data) {
                Ok(()) => idle = false,
                Err(e) => panic!("linux reply: {e}"),
            }
        }
        if jobs_sent < jobs && rng.below(40) == 0 {
            let (exe, argv, envp) = job_strings(jobs_sent);
            let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            let envp: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
            let spec = JobSpec {
                exe: &exe,
                argv: &argv,
                envp: &envp,
                cores: 1 << (jobs_sent % 4),
            };
            let n = spec.encode(&mut buf).unwrap();
            match linux
                .control
                .send(spec.call(JobId(jobs_sent as u32)), &buf[..n])
            {
                Ok(seq) => {
                    open_jobs.insert(seq, jobs_sent);
                    jobs_sent += 1;
                }
                Err(ChannelError::Full) => {}
                Err(e) => panic!("linux control send: {e}"),
            }
        }
        while let Some(incoming) = linux.control.try_recv().expect("linux control recv") {
            let response = *incoming.response();
            let n = incoming.read_data(0, &mut buf);
            incoming.release();
            let job = open_jobs
                .remove(&response.seq)
                .expect("an answer to an open job");
            assert_eq!(
                (response.outcome(), &buf[..n]),
                (Ok(job), &(job as u32).to_le_bytes()[..])
            );
            jobs_answered += 1;
        }
        linux.check_lwk().expect("the LWK stays the same");
        if idle {
            std::thread::yield_now();
        }
    }
    // Nothing was sent that the LWK did not count.
    assert!(linux.io.try_recv().unwrap().is_none());
    eprintln!(
        "linux: {} requests served, {jobs_answered} jobs in {:?}",
        next_seq - 1,
        start.elapsed()
    );
}

#[test]
fn two_threads_exchange_many_random_messages() {
    let messages: u64 = std::env::var("CHANNEL_STRESS_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let jobs = messages / 100 + 1;
    let seed = common::seed();
    let mem = Mem::new();
    let lwk = LwkEndpoint::format(mem.region());
    let linux = LinuxEndpoint::attach(mem.region(), &mut FakeClock(0), Duration::ZERO).unwrap();
    let (lwk_done, daemon_done) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        s.spawn(|| {
            linux_side(linux, seed, jobs, &lwk_done);
            daemon_done.store(true, SeqCst);
        });
        s.spawn(|| lwk_side(lwk, seed, messages, &lwk_done, &daemon_done));
    });
}
