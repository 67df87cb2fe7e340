//! The job's descriptor table: what each of the program's file
//! descriptors stands for.
//!
//! A descriptor is either one of the console's standard streams (standalone
//! mode, where stdio travels over the job channel) or a descriptor of the
//! job's table in the Linux VM daemon ("remote"). The program's numbers are
//! the personality's own: `dup` and friends make several local numbers for
//! one remote descriptor (counted here, so the remote one is closed only
//! with its last local name), and the close-on-exec bit is per local
//! number, as in Linux. Numbers are handed out lowest free first, as POSIX
//! requires and programs (shells, `dup2` dances) assume.

use crate::syscall::Errno;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// `RLIMIT_NOFILE`'s usual soft limit: one more descriptor is `EMFILE`.
pub const MAX_FDS: usize = 1024;

/// What a descriptor stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Standard stream 0–2 of the console (standalone mode).
    Console(i32),
    /// Descriptor `fd` of the job in the Linux daemon. `opened` is true for
    /// what the program opened itself (a file: a transfer larger than one
    /// shipped chunk may take several), false for the standard streams the
    /// daemon relays (a pipe-like stream: one chunk per read).
    Remote {
        /// The daemon's number.
        fd: i32,
        /// Opened by the program (else a relayed standard stream).
        opened: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    target: Target,
    cloexec: bool,
}

/// The table.
#[derive(Clone, Debug, Default)]
pub struct FdTable {
    slots: Vec<Option<Entry>>,
    /// Local names per remote descriptor.
    refs: BTreeMap<i32, u32>,
}

impl FdTable {
    /// fds 0–2 on the console (standalone mode).
    pub fn console() -> Self {
        let mut t = FdTable::default();
        for fd in 0..3 {
            t.slots.push(Some(Entry {
                target: Target::Console(fd),
                cloexec: false,
            }));
        }
        t
    }

    /// fds 0–2 on the daemon's 0–2 (jobs launched through the Linux VM).
    pub fn remote_stdio() -> Self {
        let mut t = FdTable::default();
        for fd in 0..3 {
            t.slots.push(Some(Entry {
                target: Target::Remote { fd, opened: false },
                cloexec: false,
            }));
            t.refs.insert(fd, 1);
        }
        t
    }

    fn entry(&self, fd: i32) -> Result<&Entry, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    /// What `fd` stands for; `EBADF` if it is not open.
    pub fn get(&self, fd: i32) -> Result<Target, Errno> {
        self.entry(fd).map(|e| e.target)
    }

    /// The close-on-exec bit of `fd`.
    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.entry(fd).map(|e| e.cloexec)
    }

    /// Sets or clears the close-on-exec bit of `fd`.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        self.entry(fd)?;
        if let Some(Some(e)) = self.slots.get_mut(fd as usize) {
            e.cloexec = on;
        }
        Ok(())
    }

    /// The lowest free number at or above `min`.
    fn lowest_free(&self, min: usize) -> Result<usize, Errno> {
        (min..MAX_FDS)
            .find(|&i| self.slots.get(i).is_none_or(Option::is_none))
            .ok_or(Errno::EMFILE)
    }

    fn put(&mut self, i: usize, e: Entry) {
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        if let Target::Remote { fd, .. } = e.target {
            *self.refs.entry(fd).or_insert(0) += 1;
        }
        self.slots[i] = Some(e);
    }

    /// Installs a new descriptor at the lowest free number.
    pub fn install(&mut self, target: Target, cloexec: bool) -> Result<i32, Errno> {
        let i = self.lowest_free(0)?;
        self.put(i, Entry { target, cloexec });
        Ok(i as i32)
    }

    /// Closes `fd`; returns the remote descriptor to close too when this
    /// was its last local name.
    pub fn close(&mut self, fd: i32) -> Result<Option<i32>, Errno> {
        let e = *self.entry(fd)?;
        self.slots[fd as usize] = None;
        Ok(self.release(e.target))
    }

    fn release(&mut self, target: Target) -> Option<i32> {
        let Target::Remote { fd, .. } = target else {
            return None;
        };
        let n = self.refs.get_mut(&fd)?;
        *n -= 1;
        if *n == 0 {
            self.refs.remove(&fd);
            Some(fd)
        } else {
            None
        }
    }

    /// `fcntl(F_DUPFD[_CLOEXEC])` / `dup`: a new name for `old`, the lowest
    /// free number at or above `min`.
    pub fn dup_from(&mut self, old: i32, min: i32, cloexec: bool) -> Result<i32, Errno> {
        let target = self.get(old)?;
        let min = usize::try_from(min).map_err(|_| Errno::EINVAL)?;
        if min >= MAX_FDS {
            return Err(Errno::EINVAL);
        }
        let i = self.lowest_free(min)?;
        self.put(i, Entry { target, cloexec });
        Ok(i as i32)
    }

    /// `dup2`/`dup3`: `new` becomes a name for `old`, closing what `new`
    /// named; returns the remote descriptor to close, if that was the last
    /// name of one. `old == new` is the caller's business (the two calls
    /// differ there).
    pub fn dup_to(&mut self, old: i32, new: i32, cloexec: bool) -> Result<Option<i32>, Errno> {
        let target = self.get(old)?;
        let i = usize::try_from(new)
            .ok()
            .filter(|&i| i < MAX_FDS)
            .ok_or(Errno::EBADF)?;
        let closed = match self.slots.get(i).copied().flatten() {
            Some(e) => {
                self.slots[i] = None;
                self.release(e.target)
            }
            None => None,
        };
        self.put(i, Entry { target, cloexec });
        Ok(closed)
    }

    /// Every remote descriptor still open (closed by the daemon when the
    /// job ends; listed for diagnostics).
    pub fn remote_open(&self) -> impl Iterator<Item = i32> + '_ {
        self.refs.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(fd: i32) -> Target {
        Target::Remote { fd, opened: true }
    }

    #[test]
    fn lowest_free_first_and_ebadf() {
        let mut t = FdTable::remote_stdio();
        assert_eq!(t.install(remote(7), false), Ok(3));
        assert_eq!(t.install(remote(8), true), Ok(4));
        assert_eq!(t.close(3), Ok(Some(7)));
        assert_eq!(t.install(remote(9), false), Ok(3));
        assert_eq!(t.get(3), Ok(remote(9)));
        assert_eq!(t.cloexec(4), Ok(true));
        assert_eq!(t.get(5), Err(Errno::EBADF));
        assert_eq!(t.get(-1), Err(Errno::EBADF));
        assert_eq!(t.close(5), Err(Errno::EBADF));
    }

    #[test]
    fn dups_share_the_remote_descriptor_until_the_last_close() {
        let mut t = FdTable::remote_stdio();
        let fd = t.install(remote(5), true).unwrap();
        let d = t.dup_from(fd, 0, false).unwrap();
        assert_eq!(d, fd + 1);
        assert_eq!(t.cloexec(d), Ok(false), "dup clears close-on-exec");
        assert_eq!(t.dup_to(fd, 10, true), Ok(None));
        assert_eq!(t.close(fd), Ok(None));
        assert_eq!(t.close(d), Ok(None));
        assert_eq!(t.close(10), Ok(Some(5)), "last name closes it");
    }

    #[test]
    fn dup2_over_an_open_descriptor_closes_it() {
        let mut t = FdTable::remote_stdio();
        let f = t.install(remote(4), false).unwrap();
        // dup2(f, 1): stdout now writes to the file; the daemon's 1 is free.
        assert_eq!(t.dup_to(f, 1, false), Ok(Some(1)));
        assert_eq!(t.get(1), Ok(remote(4)));
        assert_eq!(t.close(f), Ok(None));
        assert_eq!(t.close(1), Ok(Some(4)));
        assert_eq!(t.dup_to(0, MAX_FDS as i32, false), Err(Errno::EBADF));
        assert_eq!(t.dup_from(0, MAX_FDS as i32, false), Err(Errno::EINVAL));
    }

    #[test]
    fn runs_out_with_emfile() {
        let mut t = FdTable::console();
        for i in 3..MAX_FDS {
            assert_eq!(t.install(remote(i as i32), false), Ok(i as i32));
        }
        assert_eq!(t.install(remote(0), false), Err(Errno::EMFILE));
        assert_eq!(t.get(0), Ok(Target::Console(0)));
        assert_eq!(t.remote_open().count(), MAX_FDS - 3);
    }
}
