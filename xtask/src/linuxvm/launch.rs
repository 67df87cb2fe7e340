//! The host's end of the launch channel (framing:
//! `lwk_linux_daemon::launch_wire`): a Unix socket this tool listens on,
//! which QEMU connects the Linux VM's `lwk.launch` virtio-serial port to
//! (or, in the host tests, the daemon itself connects to).

use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
pub use lwk_linux_daemon::launch_wire::{ExitStatus, Frame, Kind, Launch};

/// A connected launch channel: frames in (a reader thread), frames out.
pub struct Conn {
    writer: Writer,
    events: Receiver<Frame>,
}

/// The sending half, shareable with a thread feeding stdin.
#[derive(Clone)]
pub struct Writer(Arc<Mutex<UnixStream>>);

impl Writer {
    pub fn send(&self, kind: Kind, tag: u32, payload: impl Into<Vec<u8>>) -> Result<()> {
        let bytes = Frame::new(kind, tag, payload).encode();
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.write_all(&bytes)
            .and_then(|()| s.flush())
            .context("the launch channel to the Linux VM is closed")
    }
}

impl Conn {
    /// Waits up to `timeout` for the peer to connect to `listener`, giving
    /// up early with the reason `failed` returns (a machine died).
    pub fn accept(
        listener: &UnixListener,
        timeout: Duration,
        failed: impl Fn() -> Option<String>,
    ) -> Result<Conn> {
        listener.set_nonblocking(true)?;
        let until = Instant::now() + timeout;
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Some(why) = failed() {
                        bail!("{why}");
                    }
                    if Instant::now() >= until {
                        bail!(
                            "nothing connected to the launch socket within {} s",
                            timeout.as_secs()
                        );
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e).context("accepting the launch channel"),
            }
        };
        stream.set_nonblocking(false)?;
        Conn::new(stream)
    }

    pub fn new(stream: UnixStream) -> Result<Conn> {
        let mut reader = stream.try_clone()?;
        let (tx, events) = mpsc::channel();
        thread::spawn(move || {
            while let Ok(Some(frame)) = lwk_linux_daemon::launch_wire::read_frame(&mut reader) {
                if tx.send(frame).is_err() {
                    return;
                }
            }
        });
        Ok(Conn {
            writer: Writer(Arc::new(Mutex::new(stream))),
            events,
        })
    }

    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    pub fn send(&self, kind: Kind, tag: u32, payload: impl Into<Vec<u8>>) -> Result<()> {
        self.writer.send(kind, tag, payload)
    }

    /// The next frame within `wait`; `Ok(None)` if none came.
    pub fn recv(&self, wait: Duration) -> Result<Option<Frame>> {
        match self.events.recv_timeout(wait) {
            Ok(frame) => Ok(Some(frame)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                bail!("the launch channel closed (the Linux VM stopped)")
            }
        }
    }
}
