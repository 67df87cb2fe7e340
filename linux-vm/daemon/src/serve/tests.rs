//! Serving requests directly (no channel): argument decoding, per-job
//! tables, deferred locks. The end-to-end run over the channel is
//! `cargo xtask linux-vm e2e`.

use std::fs;
use std::path::PathBuf;

use channel::job::JobExit;
use channel::{Call, DataRange, Errno, JobId, Opcode, Request};

use super::{serve, Answer};
use crate::confine::Root;
use crate::jobs::{Jobs, AT_FDCWD};

struct Fixture {
    dir: PathBuf,
    jobs: Jobs,
    out: Vec<u8>,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("daemon-serve-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let jobs = Jobs::new(Root::open(&dir).unwrap());
        Self {
            dir,
            jobs,
            out: Vec::new(),
        }
    }

    fn request(job: u32, op: Opcode, args: &[u64], data: &[u8]) -> Request {
        let mut call = Call::new(JobId(job), op);
        call.args[..args.len()].copy_from_slice(args);
        Request {
            seq: 1,
            call,
            data: DataRange::new(0, data.len() as u32).unwrap(),
        }
    }

    fn answer(&mut self, job: u32, op: Opcode, args: &[u64], data: &[u8]) -> Answer {
        self.out.clear();
        let request = Self::request(job, op, args, data);
        serve(&mut self.jobs, &request, data, &mut self.out)
    }

    fn call(&mut self, job: u32, op: Opcode, args: &[u64], data: &[u8]) -> Result<u64, Errno> {
        match self.answer(job, op, args, data) {
            Answer::Done(r) => r,
            Answer::Later => panic!("{op:?} deferred"),
        }
    }

    fn open(&mut self, job: u32, path: &str, flags: i32) -> Result<u64, Errno> {
        let data = [path.as_bytes(), b"\0"].concat();
        let args = [AT_FDCWD as u64, 0, flags as u64, 0o644];
        self.call(job, Opcode::Openat, &args, &data)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn arguments_outside_the_data_are_efault() {
    let mut f = Fixture::new("efault");
    let fd = f.open(1, "x", libc::O_CREAT | libc::O_RDWR).unwrap();
    assert_eq!(fd, 3);
    // write's buffer reaches past the request's data.
    assert_eq!(
        f.call(1, Opcode::Write, &[fd, 2, 8], b"abcd"),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        f.call(1, Opcode::Write, &[fd, u64::MAX, 1], b"a"),
        Err(Errno::EFAULT)
    );
    // A path with no NUL inside the data.
    let args = [AT_FDCWD as u64, 0, 0, 0];
    assert_eq!(f.call(1, Opcode::Openat, &args, b"x"), Err(Errno::EFAULT));
    assert_eq!(f.call(1, Opcode::Openat, &args, b"\0"), Err(Errno::ENOENT));
    // writev: lengths claiming more than the data holds, or too many iovecs.
    let mut data = Vec::new();
    data.extend_from_slice(&3u64.to_ne_bytes());
    data.extend_from_slice(&9u64.to_ne_bytes());
    data.extend_from_slice(b"abc");
    assert_eq!(
        f.call(1, Opcode::Writev, &[fd, 0, 2], &data),
        Err(Errno::EFAULT)
    );
    let mut one = 3u64.to_ne_bytes().to_vec();
    one.extend_from_slice(b"abc");
    assert_eq!(f.call(1, Opcode::Writev, &[fd, 0, 1], &one), Ok(3));
    assert_eq!(
        f.call(1, Opcode::Writev, &[fd, 0, 1 << 20], &data),
        Err(Errno::EINVAL)
    );
    assert_eq!(fs::read(f.dir.join("x")).unwrap(), b"abc");
    // Counts larger than a slot are clamped: a short read, never an overrun.
    assert_eq!(
        f.call(1, Opcode::Pread64, &[fd, 0, u64::MAX, 0], &[]),
        Ok(3)
    );
    assert_eq!(f.out, b"abc");
    // An unknown descriptor, and an unknown fcntl command.
    assert_eq!(f.call(1, Opcode::Fsync, &[77], &[]), Err(Errno::EBADF));
    assert_eq!(
        f.call(1, Opcode::Fcntl, &[fd, 9999, 0], &[]),
        Err(Errno::EINVAL)
    );
    assert!(f.out.is_empty(), "failed calls return no data");
}

#[test]
fn each_job_has_its_own_table_and_cwd() {
    let mut f = Fixture::new("jobs");
    fs::create_dir(f.dir.join("d")).unwrap();
    assert_eq!(f.open(1, "a", libc::O_CREAT | libc::O_WRONLY), Ok(3));
    assert_eq!(f.open(1, "b", libc::O_CREAT | libc::O_WRONLY), Ok(4));
    // Job 2 starts afresh: its first file is 3 too, and job 1's 4 is not its.
    assert_eq!(f.open(2, "c", libc::O_CREAT | libc::O_WRONLY), Ok(3));
    assert_eq!(f.call(2, Opcode::Close, &[4], &[]), Err(Errno::EBADF));
    assert_eq!(f.call(2, Opcode::Chdir, &[0], b"d\0"), Ok(0));
    assert_eq!(f.call(2, Opcode::Getcwd, &[0, 64], &[]), Ok(3));
    assert_eq!(f.out, b"/d\0");
    assert_eq!(f.call(2, Opcode::Getcwd, &[0, 2], &[]), Err(Errno::ERANGE));
    assert_eq!(f.call(1, Opcode::Getcwd, &[0, 64], &[]), Ok(2));
    // Job 1 ends: its descriptors go; a later job 1 starts afresh.
    let exit = JobExit::Exited { code: 0 }.call(JobId(1));
    let request = Request {
        seq: 9,
        call: exit,
        data: DataRange::default(),
    };
    assert_eq!(
        serve(&mut f.jobs, &request, &[], &mut f.out),
        Answer::Done(Ok(0))
    );
    assert_eq!(f.call(1, Opcode::Close, &[4], &[]), Err(Errno::EBADF));
    assert_eq!(f.call(2, Opcode::Close, &[3], &[]), Ok(0));
}

#[test]
fn a_waiting_lock_is_answered_later_not_blocked_on() {
    let mut f = Fixture::new("locks");
    let a = f.open(1, "f", libc::O_CREAT | libc::O_RDWR).unwrap();
    let b = f.open(2, "f", libc::O_RDWR).unwrap();
    let mut lock = [0u8; 32];
    lock[0..2].copy_from_slice(&(libc::F_WRLCK as i16).to_ne_bytes());
    let mut unlock = lock;
    unlock[0..2].copy_from_slice(&(libc::F_UNLCK as i16).to_ne_bytes());
    let setlk = libc::F_SETLK as u64;
    let setlkw = libc::F_SETLKW as u64;
    assert_eq!(f.call(1, Opcode::Fcntl, &[a, setlk, 0], &lock), Ok(0));
    // Another job's lock on the same file conflicts (OFD locks).
    assert_eq!(
        f.call(2, Opcode::Fcntl, &[b, setlk, 0], &lock),
        Err(Errno::EAGAIN)
    );
    assert_eq!(
        f.answer(2, Opcode::Fcntl, &[b, setlkw, 0], &lock),
        Answer::Later
    );
    assert_eq!(f.call(1, Opcode::Fcntl, &[a, setlk, 0], &unlock), Ok(0));
    assert_eq!(
        f.answer(2, Opcode::Fcntl, &[b, setlkw, 0], &lock),
        Answer::Done(Ok(0))
    );
    // The flock must be in the data.
    assert_eq!(
        f.call(2, Opcode::Fcntl, &[b, setlk, 8], &lock),
        Err(Errno::EFAULT)
    );
}

#[test]
fn entry_calls_refuse_dot_names_and_escapes() {
    let mut f = Fixture::new("entries");
    let at = AT_FDCWD as u64;
    assert_eq!(
        f.call(1, Opcode::Mkdirat, &[at, 0, 0o755], b"..\0"),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        f.call(
            1,
            Opcode::Unlinkat,
            &[at, 0, libc::AT_REMOVEDIR as u64],
            b".\0"
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        f.call(1, Opcode::Unlinkat, &[at, 0, 0x4000], b"x\0"),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        f.call(1, Opcode::Renameat, &[at, 0, at, 2], b".\0y\0"),
        Err(Errno::EBUSY)
    );
    // mkdir "../x" lands inside the root (chroot semantics), never beside it.
    assert_eq!(
        f.call(1, Opcode::Mkdirat, &[at, 0, 0o755], b"../x\0"),
        Ok(0)
    );
    assert!(f.dir.join("x").is_dir());
    fs::write(f.dir.join("file"), "").unwrap();
    assert_eq!(
        f.call(1, Opcode::Unlinkat, &[at, 0, 0], b"file/\0"),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        f.call(1, Opcode::Unlinkat, &[at, 0, 0], b"x/\0"),
        Err(Errno::EISDIR)
    );
    // newfstatat with AT_EMPTY_PATH on the cwd; statx of a file.
    let empty = libc::AT_EMPTY_PATH as u64;
    assert_eq!(
        f.call(1, Opcode::Newfstatat, &[at, 0, 0, empty], b"\0"),
        Ok(0)
    );
    assert_eq!(f.out.len(), 144);
    assert_eq!(
        f.call(1, Opcode::Newfstatat, &[at, 0, 0, 0], b"\0"),
        Err(Errno::ENOENT)
    );
    let mask = libc::STATX_BASIC_STATS as u64;
    assert_eq!(
        f.call(1, Opcode::Statx, &[at, 0, 0, mask], b"file\0"),
        Ok(0)
    );
    assert_eq!(f.out.len(), 256);
}

#[test]
fn reads_of_an_empty_pipe_wait_and_console_output_goes_to_the_job() {
    use std::os::fd::AsFd;

    use crate::jobs::Job;
    use crate::sys;

    let mut f = Fixture::new("stdio");
    let (in_r, in_w) = sys::pipe().unwrap();
    let (out_r, out_w) = sys::pipe().unwrap();
    let err_w = sys::open(c"/dev/null", libc::O_WRONLY).unwrap();
    let job = Job::with_stdio(&f.jobs.root, [in_r, out_w, err_w]).unwrap();
    f.jobs.insert(JobId(9), job).unwrap();
    assert!(f
        .jobs
        .insert(JobId(9), Job::new(&f.jobs.root).unwrap())
        .is_err());
    // Nothing written yet: the read is deferred, not blocking the daemon.
    assert_eq!(f.answer(9, Opcode::Read, &[0, 0, 16], &[]), Answer::Later);
    assert_eq!(
        f.answer(9, Opcode::Readv, &[0, 0, 1], &16u64.to_ne_bytes()),
        Answer::Later
    );
    sys::write(in_w.as_fd(), b"typed").unwrap();
    assert_eq!(f.call(9, Opcode::Read, &[0, 0, 16], &[]), Ok(5));
    assert_eq!(f.out, b"typed");
    // End of file once the writer is gone.
    drop(in_w);
    assert_eq!(f.call(9, Opcode::Read, &[0, 0, 16], &[]), Ok(0));
    // Writes to fd 1 and ConsoleOutput land in the stdout pipe, in order.
    assert_eq!(f.call(9, Opcode::Write, &[1, 0, 3], b"one"), Ok(3));
    let console = channel::job::ConsoleStream::Stdout.call(JobId(9));
    let request = Request {
        seq: 2,
        call: console,
        data: DataRange::new(0, 3).unwrap(),
    };
    assert_eq!(
        serve(&mut f.jobs, &request, b"two", &mut f.out),
        Answer::Done(Ok(3))
    );
    let mut buf = [0u8; 16];
    let n = sys::read(out_r.as_fd(), &mut buf).unwrap();
    assert_eq!(&buf[..n], b"onetwo");
    // A regular file is never deferred.
    fs::write(f.dir.join("file"), "x").unwrap();
    let fd = f.open(9, "file", libc::O_RDONLY).unwrap();
    assert_eq!(f.call(9, Opcode::Read, &[fd, 0, 16], &[]), Ok(1));
}
