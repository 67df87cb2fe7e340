//! A stand-in for the Linux daemon behind `Process::ship`, over an
//! in-memory file system, for testing the personality's side of shipped
//! calls (descriptor translation, chunking, short counts, errors) on the
//! host. The real daemon is tested against a real Linux in QEMU.

use lwk_personality::syscall::ship::{Opcode, Shipped};
use lwk_personality::syscall::Errno;
use std::collections::BTreeMap;

/// One open file of the fake.
#[derive(Clone, Debug)]
struct Open {
    path: Vec<u8>,
    pos: u64,
}

#[derive(Debug, Default)]
pub struct FakeDaemon {
    /// File contents by path.
    pub files: BTreeMap<Vec<u8>, Vec<u8>>,
    open: BTreeMap<i32, Open>,
    /// Most bytes one read or write moves (short counts).
    pub max_transfer: Option<usize>,
    /// Every call seen: opcode and arguments.
    pub calls: Vec<(Opcode, [u64; 6])>,
    /// Answer everything with this error (a daemon gone: `EIO`).
    pub fail: Option<Errno>,
}

fn path_of(data: &[u8], off: u64) -> Vec<u8> {
    let rest = &data[off as usize..];
    rest[..rest.iter().position(|&c| c == 0).unwrap()].to_vec()
}

impl FakeDaemon {
    /// A daemon whose job has 0, 1, 2 open (as the real one sets up).
    pub fn new() -> Self {
        let mut d = FakeDaemon::default();
        for fd in 0..3 {
            d.open.insert(
                fd,
                Open {
                    path: format!("<std{fd}>").into_bytes(),
                    pos: 0,
                },
            );
        }
        d
    }

    pub fn is_open(&self, fd: i32) -> bool {
        self.open.contains_key(&fd)
    }

    fn limit(&self, n: u64) -> usize {
        self.max_transfer.map_or(n as usize, |m| m.min(n as usize))
    }

    pub fn serve(&mut self, call: Shipped<'_>, reply: &mut [u8]) -> Result<(u64, usize), Errno> {
        self.calls.push((call.op, call.args));
        if let Some(e) = self.fail {
            return Err(e);
        }
        let a = call.args;
        let fd = a[0] as i32;
        match call.op {
            Opcode::Openat => {
                let path = path_of(call.data, a[1]);
                if a[2] & 0o100 != 0 {
                    self.files.entry(path.clone()).or_default();
                }
                if !self.files.contains_key(&path) {
                    return Err(Errno::ENOENT);
                }
                let new = (0..).find(|f| !self.open.contains_key(f)).unwrap();
                self.open.insert(new, Open { path, pos: 0 });
                Ok((new as u64, 0))
            }
            Opcode::Close => self.open.remove(&fd).map(|_| (0, 0)).ok_or(Errno::EBADF),
            Opcode::Read | Opcode::Pread64 => {
                let n = self.limit(a[2]).min(reply.len());
                let o = self.open.get(&fd).ok_or(Errno::EBADF)?.clone();
                let at = if call.op == Opcode::Read { o.pos } else { a[3] };
                let file = &self.files[&o.path];
                let start = (at as usize).min(file.len());
                let end = (start + n).min(file.len());
                reply[..end - start].copy_from_slice(&file[start..end]);
                if call.op == Opcode::Read {
                    self.open.get_mut(&fd).unwrap().pos += (end - start) as u64;
                }
                Ok(((end - start) as u64, end - start))
            }
            Opcode::Write | Opcode::Pwrite64 => {
                let n = self.limit(a[2]);
                let bytes = &call.data[a[1] as usize..a[1] as usize + n];
                let o = self.open.get(&fd).ok_or(Errno::EBADF)?.clone();
                let at = if call.op == Opcode::Write {
                    o.pos
                } else {
                    a[3]
                } as usize;
                let file = self.files.entry(o.path.clone()).or_default();
                if file.len() < at + n {
                    file.resize(at + n, 0);
                }
                file[at..at + n].copy_from_slice(bytes);
                if call.op == Opcode::Write {
                    self.open.get_mut(&fd).unwrap().pos += n as u64;
                }
                Ok((n as u64, 0))
            }
            Opcode::Fstat => {
                let o = self.open.get(&fd).ok_or(Errno::EBADF)?;
                let size = self.files.get(&o.path).map_or(0, Vec::len) as u64;
                let mut st = [0u8; 144];
                st[48..56].copy_from_slice(&size.to_le_bytes());
                reply[..144].copy_from_slice(&st);
                Ok((0, 144))
            }
            Opcode::Unlinkat => {
                let path = path_of(call.data, a[1]);
                self.files
                    .remove(&path)
                    .map(|_| (0, 0))
                    .ok_or(Errno::ENOENT)
            }
            Opcode::Renameat => {
                let (old, new) = (path_of(call.data, a[1]), path_of(call.data, a[3]));
                let f = self.files.remove(&old).ok_or(Errno::ENOENT)?;
                self.files.insert(new, f);
                Ok((0, 0))
            }
            _ => Err(Errno::ENOSYS),
        }
    }
}
