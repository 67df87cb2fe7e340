//! The launch channel's framing: how the host (`cargo xtask run`) asks the
//! daemon to start jobs on the LWK and gets their output and exit back.
//!
//! The channel is a byte stream: in the Linux VM a virtio-serial port named
//! [`PORT_NAME`] (QEMU connects it to a Unix socket the host listens on); on
//! the host (tests) a Unix socket. Both directions carry frames:
//!
//! ```text
//! magic "LWKF" | kind u8 | 0 0 0 | tag u32 | len u32 | payload (len bytes)
//! ```
//!
//! little endian; `tag` is the host's name for a launch (0 for frames about
//! the daemon itself). A reader that finds no magic skips bytes until the
//! next one, so a daemon killed in the middle of a frame (the restart test)
//! costs one frame, not the stream. Payloads are at most [`MAX_PAYLOAD`].
//!
//! | kind | direction | payload |
//! |---|---|---|
//! | `Launch` | host → daemon | [`Launch`]: cores, exe, argv, envp |
//! | `Stdin` | host → daemon | bytes for the job's fd 0; empty = end of file |
//! | `KillDaemon` | host → daemon | – (the daemon kills itself with SIGKILL: tests) |
//! | `Hello` | daemon → host | text `version=1 pid=<pid>` (each daemon start) |
//! | `Attached` | daemon → host | LWK generation, u64 |
//! | `Detached` | daemon → host | the reason, text |
//! | `Started` | daemon → host | JobStart's answer i64 (0 or -errno), job id u32 |
//! | `Stdout`, `Stderr` | daemon → host | the job's bytes |
//! | `Exit` | daemon → host | [`ExitStatus`] |
//! | `Error` | daemon → host | why a launch was refused, text (no `Exit` follows) |

use std::io::{self, Read, Write};

/// The virtio-serial port's name (`virtserialport,name=...`).
pub const PORT_NAME: &str = "lwk.launch";
/// Frame magic.
pub const MAGIC: [u8; 4] = *b"LWKF";
/// Header bytes.
pub const HEADER: usize = 16;
/// Largest payload accepted.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Largest output chunk the daemon sends in one frame.
pub const CHUNK: usize = 64 << 10;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Launch = 1,
    Stdin = 2,
    KillDaemon = 3,
    Hello = 0x81,
    Attached = 0x82,
    Detached = 0x83,
    Started = 0x84,
    Stdout = 0x85,
    Stderr = 0x86,
    Exit = 0x87,
    Error = 0x88,
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::Launch,
        Kind::Stdin,
        Kind::KillDaemon,
        Kind::Hello,
        Kind::Attached,
        Kind::Detached,
        Kind::Started,
        Kind::Stdout,
        Kind::Stderr,
        Kind::Exit,
        Kind::Error,
    ];

    fn from_u8(b: u8) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| *k as u8 == b)
    }
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub tag: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn new(kind: Kind, tag: u32, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            kind,
            tag,
            payload: payload.into(),
        }
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[self.kind as u8, 0, 0, 0]);
        out.extend_from_slice(&self.tag.to_le_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Writes the frame in one `write_all`.
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.encode())?;
        w.flush()
    }

    /// The payload as text (lossy), for `Hello`, `Detached`, `Error`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// Reads the next frame; `Ok(None)` at end of stream. Bytes before a magic
/// and frames of unknown kind or oversized length are skipped.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut window = [0u8; 4];
    let mut have = 0;
    loop {
        // Slide a 4-byte window over the stream until it holds the magic.
        while have < 4 {
            let mut b = [0u8; 1];
            if r.read(&mut b)? == 0 {
                return Ok(None);
            }
            window[have] = b[0];
            have += 1;
        }
        if window != MAGIC {
            window.copy_within(1.., 0);
            have = 3;
            continue;
        }
        have = 0;
        let mut rest = [0u8; HEADER - 4];
        if !read_full(r, &mut rest)? {
            return Ok(None);
        }
        let kind = Kind::from_u8(rest[0]);
        let tag = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes")) as usize;
        if len > MAX_PAYLOAD {
            continue;
        }
        let mut payload = vec![0u8; len];
        if !read_full(r, &mut payload)? {
            return Ok(None);
        }
        if let Some(kind) = kind {
            return Ok(Some(Frame { kind, tag, payload }));
        }
    }
}

/// `read_exact` that reports a clean end of stream as `false`.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut at = 0;
    while at < buf.len() {
        match r.read(&mut buf[at..]) {
            Ok(0) => return Ok(false),
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A job to launch: the executable's path as the job sees it (below the
/// job's root, or `/.lwk/<n>/...` for a program share), its argv and envp,
/// and the application nodes it runs on (bit `n` = node `n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub cores: u64,
    pub exe: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
}

impl Launch {
    /// `cores u64 | argc u32 | envc u32 | exe\0 argv…\0 envp…\0`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.cores.to_le_bytes());
        out.extend_from_slice(&(self.argv.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.envp.len() as u32).to_le_bytes());
        for s in std::iter::once(&self.exe)
            .chain(&self.argv)
            .chain(&self.envp)
        {
            out.extend_from_slice(s);
            out.push(0);
        }
        out
    }

    /// The inverse of [`encode`](Self::encode); `None` if the counts and
    /// strings disagree.
    pub fn decode(bytes: &[u8]) -> Option<Launch> {
        let cores = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let argc = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
        let envc = u32::from_le_bytes(bytes.get(12..16)?.try_into().ok()?) as usize;
        let body = bytes.get(16..)?;
        if body.last() != Some(&0) {
            return None;
        }
        let strings: Vec<Vec<u8>> = body[..body.len() - 1]
            .split(|&b| b == 0)
            .map(<[u8]>::to_vec)
            .collect();
        if strings.len() != 1 + argc.checked_add(envc)? || strings[0].is_empty() {
            return None;
        }
        let mut it = strings.into_iter();
        let exe = it.next()?;
        let argv = it.by_ref().take(argc).collect();
        let envp = it.collect();
        Some(Launch {
            cores,
            exe,
            argv,
            envp,
        })
    }
}

/// How a launched job ended, as the `Exit` frame says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit_group(code)`.
    Exited(i32),
    /// Killed by signal `n`.
    Signaled(u32),
    /// The daemon lost the job (the LWK restarted or detached) before it
    /// reported its end.
    Lost,
}

impl ExitStatus {
    /// `kind u32 (0 exited, 1 signaled, 2 lost) | value i32`.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, value): (u32, i32) = match *self {
            ExitStatus::Exited(code) => (0, code),
            ExitStatus::Signaled(sig) => (1, sig as i32),
            ExitStatus::Lost => (2, 0),
        };
        [kind.to_le_bytes(), value.to_le_bytes()].concat()
    }

    pub fn decode(bytes: &[u8]) -> Option<ExitStatus> {
        let kind = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
        let value = i32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
        match kind {
            0 => Some(ExitStatus::Exited(value)),
            1 if value > 0 => Some(ExitStatus::Signaled(value as u32)),
            2 => Some(ExitStatus::Lost),
            _ => None,
        }
    }

    /// The status a shell reports: the code's low byte, 128 + signal; a
    /// lost job is 125 (as `cargo xtask run`'s own failures).
    pub fn shell_status(&self) -> i32 {
        match *self {
            ExitStatus::Exited(code) => code & 0xff,
            ExitStatus::Signaled(sig) => 128 + sig as i32,
            ExitStatus::Lost => 125,
        }
    }
}

/// `Started` payload: `result i64 | job u32`.
pub fn started_payload(result: i64, job: u32) -> Vec<u8> {
    [&result.to_le_bytes()[..], &job.to_le_bytes()].concat()
}

/// The inverse of [`started_payload`].
pub fn decode_started(bytes: &[u8]) -> Option<(i64, u32)> {
    let result = i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let job = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
    Some((result, job))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_resynchronise() {
        let a = Frame::new(Kind::Stdout, 7, b"hello".to_vec());
        let b = Frame::new(Kind::Exit, 7, ExitStatus::Exited(3).encode());
        // Garbage, a frame cut short by a dying writer, a frame of unknown
        // kind, an oversized header: all skipped.
        let mut stream = b"xxLW".to_vec();
        stream.extend_from_slice(&a.encode());
        stream.extend_from_slice(&a.encode()[..10]);
        let mut unknown = b.encode();
        unknown[4] = 0x7f;
        stream.extend_from_slice(&unknown);
        let mut huge = Frame::new(Kind::Stdin, 1, vec![]).encode();
        huge[12..16].copy_from_slice(&(MAX_PAYLOAD as u32 + 1).to_le_bytes());
        stream.extend_from_slice(&huge);
        stream.extend_from_slice(&b.encode());
        let mut r = &stream[..];
        assert_eq!(read_frame(&mut r).unwrap(), Some(a));
        assert_eq!(read_frame(&mut r).unwrap(), Some(b.clone()));
        assert_eq!(read_frame(&mut r).unwrap(), None);
        assert_eq!(ExitStatus::decode(&b.payload), Some(ExitStatus::Exited(3)));
    }

    #[test]
    fn launch_round_trips_and_checks_counts() {
        let l = Launch {
            cores: 0b1110,
            exe: b"/.lwk/0/busybox".to_vec(),
            argv: vec![b"busybox".to_vec(), b"".to_vec(), b"two words".to_vec()],
            envp: vec![b"A=1".to_vec()],
        };
        let bytes = l.encode();
        assert_eq!(Launch::decode(&bytes), Some(l.clone()));
        let mut bad = bytes.clone();
        bad[8] = 9;
        assert_eq!(Launch::decode(&bad), None);
        assert_eq!(Launch::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Launch::decode(&bytes[..10]), None);
        let none = Launch {
            argv: vec![],
            envp: vec![],
            ..l
        };
        assert_eq!(Launch::decode(&none.encode()), Some(none));
    }

    #[test]
    fn statuses() {
        for s in [
            ExitStatus::Exited(-1),
            ExitStatus::Signaled(11),
            ExitStatus::Lost,
        ] {
            assert_eq!(ExitStatus::decode(&s.encode()), Some(s));
        }
        assert_eq!(ExitStatus::Exited(256 + 7).shell_status(), 7);
        assert_eq!(ExitStatus::Signaled(9).shell_status(), 137);
        assert_eq!(decode_started(&started_payload(-2, 5)), Some((-2, 5)));
    }
}
