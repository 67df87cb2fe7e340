use std::vec::Vec;

use super::*;
use crate::wire::DataRange;

fn request(call: Call, data: &[u8]) -> Request {
    Request {
        seq: 1,
        call,
        data: DataRange::new(0, data.len() as u32).unwrap(),
    }
}

fn encode(spec: &JobSpec<'_>) -> (Request, Vec<u8>) {
    let mut buf = std::vec![0u8; spec.encoded_len()];
    assert_eq!(spec.encode(&mut buf), Ok(buf.len()));
    (request(spec.call(JobId(9)), &buf), buf)
}

#[test]
fn job_start_round_trips() {
    let argv: [&[u8]; 3] = [b"/bin/prog", b"-v", b""];
    let envp: [&[u8]; 2] = [b"HOME=/", b"TERM=dumb"];
    let spec = JobSpec {
        exe: b"/mnt/prog",
        argv: &argv,
        envp: &envp,
        cores: 0b110,
    };
    let (req, data) = encode(&spec);
    let job = JobStart::decode(&req, &data).unwrap();
    assert_eq!(
        (job.job, job.exe, job.cores),
        (JobId(9), &b"/mnt/prog"[..], 0b110)
    );
    assert_eq!(job.argv.len(), 3);
    assert!(job.argv.eq(argv.iter().copied()));
    assert!(job.envp.eq(envp.iter().copied()));
}

#[test]
fn empty_argv_and_envp_round_trip() {
    let spec = JobSpec {
        exe: b"p",
        argv: &[],
        envp: &[],
        cores: 1,
    };
    let (req, data) = encode(&spec);
    let job = JobStart::decode(&req, &data).unwrap();
    assert!(job.argv.is_empty() && job.envp.is_empty());
    assert_eq!(job.argv.count() + job.envp.count(), 0);
    let envp: [&[u8]; 1] = [b"A=1"];
    let spec = JobSpec {
        exe: b"p",
        argv: &[],
        envp: &envp,
        cores: 1,
    };
    let (req, data) = encode(&spec);
    let job = JobStart::decode(&req, &data).unwrap();
    assert_eq!(job.envp.collect::<Vec<_>>(), [b"A=1"]);
}

#[test]
fn encoding_refuses_nul_and_short_buffers() {
    let argv: [&[u8]; 1] = [b"a\0b"];
    let spec = JobSpec {
        exe: b"p",
        argv: &argv,
        envp: &[],
        cores: 1,
    };
    assert_eq!(spec.encode(&mut [0; 64]), Err(JobError::EmbeddedNul));
    let spec = JobSpec {
        exe: b"/bin/x",
        argv: &[],
        envp: &[],
        cores: 1,
    };
    assert_eq!(
        spec.encode(&mut [0; 6]),
        Err(JobError::TooLarge { needed: 7 })
    );
}

#[test]
fn malformed_job_starts_are_refused() {
    let argv: [&[u8]; 2] = [b"a", b"b"];
    let spec = JobSpec {
        exe: b"exe",
        argv: &argv,
        envp: &[],
        cores: 1,
    };
    let (req, data) = encode(&spec);
    let with_args = |f: &dyn Fn(&mut Call)| {
        let mut r = req;
        f(&mut r.call);
        JobStart::decode(&r, &data).err()
    };
    assert_eq!(with_args(&|c| c.args[0] = 3), Some(JobError::Malformed));
    assert_eq!(
        with_args(&|c| c.args[0] = u64::MAX),
        Some(JobError::Malformed)
    );
    assert_eq!(
        with_args(&|c| c.args[1] = u64::MAX),
        Some(JobError::Malformed)
    );
    assert_eq!(with_args(&|c| c.args[3] = 2), Some(JobError::Malformed));
    assert_eq!(
        with_args(&|c| c.opcode = Opcode::Read),
        Some(JobError::WrongOpcode(Opcode::Read))
    );
    // Data shorter than announced, or not NUL-terminated.
    assert_eq!(
        JobStart::decode(&req, &data[..data.len() - 1]).err(),
        Some(JobError::Malformed)
    );
    let mut unterminated = data.clone();
    *unterminated.last_mut().unwrap() = b'x';
    assert_eq!(
        JobStart::decode(&req, &unterminated).err(),
        Some(JobError::Malformed)
    );
    // An empty exe path.
    let empty = JobSpec {
        exe: b"",
        argv: &[],
        envp: &[],
        cores: 1,
    };
    let (req, data) = encode(&empty);
    assert_eq!(
        JobStart::decode(&req, &data).err(),
        Some(JobError::Malformed)
    );
    assert_eq!(
        JobStart::decode(&request(req.call, &[]), &[]).err(),
        Some(JobError::Malformed)
    );
}

#[test]
fn decoding_random_bytes_never_panics() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..5000 {
        let len = (next() % 24) as usize;
        let data: Vec<u8> = (0..len)
            .map(|_| if next() % 3 == 0 { 0 } else { b'a' })
            .collect();
        let mut call = Call::new(JobId(1), Opcode::JobStart);
        for arg in &mut call.args[..4] {
            *arg = next() % 6;
        }
        if let Ok(job) = JobStart::decode(&request(call, &data), &data) {
            assert_eq!(job.argv.count() as u64, call.args[0]);
            assert_eq!(job.envp.count() as u64, call.args[1]);
        }
    }
}

#[test]
fn job_exit_round_trips_and_checks_ranges() {
    for exit in [
        JobExit::Exited { code: 0 },
        JobExit::Exited { code: -1 },
        JobExit::Exited { code: 300 },
        JobExit::Signaled {
            signal: 11,
            fault_addr: 0xdead,
            ip: 0x401000,
        },
        JobExit::Signaled {
            signal: 4,
            fault_addr: 0,
            ip: 0,
        },
    ] {
        assert_eq!(
            JobExit::decode(&request(exit.call(JobId(2)), &[])),
            Ok(exit)
        );
    }
    assert_eq!(JobExit::Exited { code: 300 }.shell_status(), 44);
    assert_eq!(
        JobExit::Signaled {
            signal: 11,
            fault_addr: 0,
            ip: 0
        }
        .shell_status(),
        139
    );
    let bad = |args: [u64; 2]| {
        let call = Call::new(JobId(2), Opcode::JobExit)
            .arg(0, args[0])
            .arg(1, args[1]);
        JobExit::decode(&request(call, &[]))
    };
    assert_eq!(bad([0, 1 << 40]), Err(JobError::BadArgs));
    assert_eq!(bad([1, 0]), Err(JobError::BadArgs));
    assert_eq!(bad([1, 65]), Err(JobError::BadArgs));
    assert_eq!(bad([2, 0]), Err(JobError::BadArgs));
    let not_exit = request(Call::new(JobId(2), Opcode::Close), &[]);
    assert_eq!(
        JobExit::decode(&not_exit),
        Err(JobError::WrongOpcode(Opcode::Close))
    );
}

#[test]
fn console_stream_round_trips() {
    for stream in [ConsoleStream::Stdout, ConsoleStream::Stderr] {
        assert_eq!(
            ConsoleStream::decode(&request(stream.call(JobId::NONE), b"x")),
            Ok(stream)
        );
    }
    let bad = Call::new(JobId::NONE, Opcode::ConsoleOutput).arg(0, 3);
    assert_eq!(
        ConsoleStream::decode(&request(bad, &[])),
        Err(JobError::BadArgs)
    );
}
