//! A job's file descriptor table: the numbers the job sees, mapped to what
//! the daemon holds. Numbers are allocated lowest-free first, as Linux does,
//! so a job's descriptors look exactly as they would natively; each entry
//! carries its own close-on-exec flag (descriptors made by `dup` share the
//! open file but not that flag).

use channel::Errno;

/// Most descriptors one job may hold (a common `RLIMIT_NOFILE`).
pub const MAX_FDS: usize = 1024;

/// `FD_CLOEXEC`, the only descriptor flag.
pub const FD_CLOEXEC: u64 = 1;

#[derive(Debug)]
struct Entry<T> {
    file: T,
    cloexec: bool,
}

/// Descriptor numbers `0..MAX_FDS` of one job.
#[derive(Debug)]
pub struct FdTable<T> {
    entries: Vec<Option<Entry<T>>>,
}

impl<T> Default for FdTable<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<T> FdTable<T> {
    /// Installs `file` at the lowest free number not below `min`.
    /// EINVAL for a `min` out of range, EMFILE when the table is full.
    pub fn insert(&mut self, min: u64, file: T, cloexec: bool) -> Result<i32, Errno> {
        let min = usize::try_from(min)
            .ok()
            .filter(|&m| m < MAX_FDS)
            .ok_or(Errno::EINVAL)?;
        let fd = (min..MAX_FDS)
            .find(|&fd| self.entries.get(fd).is_none_or(Option::is_none))
            .ok_or(Errno::EMFILE)?;
        if fd >= self.entries.len() {
            self.entries.resize_with(fd + 1, || None);
        }
        self.entries[fd] = Some(Entry { file, cloexec });
        Ok(fd as i32)
    }

    fn entry(&self, fd: i64) -> Result<&Entry<T>, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|fd| self.entries.get(fd)?.as_ref())
            .ok_or(Errno::EBADF)
    }

    /// The open file of `fd`; EBADF if none.
    pub fn get(&self, fd: i64) -> Result<&T, Errno> {
        self.entry(fd).map(|e| &e.file)
    }

    /// Closes `fd`, handing back its file; EBADF if none.
    pub fn remove(&mut self, fd: i64) -> Result<T, Errno> {
        self.entry(fd)?;
        let entry = self.entries[fd as usize].take().ok_or(Errno::EBADF)?;
        while self.entries.last().is_some_and(Option::is_none) {
            self.entries.pop();
        }
        Ok(entry.file)
    }

    /// `F_GETFD`.
    pub fn flags(&self, fd: i64) -> Result<u64, Errno> {
        Ok(if self.entry(fd)?.cloexec {
            FD_CLOEXEC
        } else {
            0
        })
    }

    /// `F_SETFD`.
    pub fn set_flags(&mut self, fd: i64, flags: u64) -> Result<(), Errno> {
        self.entry(fd)?;
        if let Some(Some(e)) = self.entries.get_mut(fd as usize) {
            e.cloexec = flags & FD_CLOEXEC != 0;
        }
        Ok(())
    }

    /// Descriptors in use.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_number_first() {
        let mut t = FdTable::default();
        assert_eq!(t.insert(0, "a", false), Ok(0));
        assert_eq!(t.insert(0, "b", false), Ok(1));
        assert_eq!(t.insert(0, "c", false), Ok(2));
        assert_eq!(t.remove(1), Ok("b"));
        assert_eq!(t.insert(0, "d", false), Ok(1));
        assert_eq!(t.insert(10, "e", true), Ok(10));
        assert_eq!(t.insert(3, "f", false), Ok(3));
        assert_eq!(t.get(10), Ok(&"e"));
        assert_eq!(t.get(4), Err(Errno::EBADF));
        assert_eq!(t.get(-100), Err(Errno::EBADF));
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn errors_and_flags() {
        let mut t = FdTable::default();
        assert_eq!(t.remove(0), Err(Errno::EBADF));
        assert_eq!(t.insert(MAX_FDS as u64, 1, false), Err(Errno::EINVAL));
        assert_eq!(t.insert(u64::MAX, 1, false), Err(Errno::EINVAL));
        for i in 0..MAX_FDS {
            assert_eq!(t.insert(0, i, false), Ok(i as i32));
        }
        assert_eq!(t.insert(0, 0, false), Err(Errno::EMFILE));
        assert_eq!(t.flags(5), Ok(0));
        t.set_flags(5, FD_CLOEXEC | 0x100).unwrap();
        assert_eq!(t.flags(5), Ok(FD_CLOEXEC));
        assert_eq!(t.set_flags(MAX_FDS as i64, 1), Err(Errno::EBADF));
        // Removing the last entries shrinks the table; numbers are reused.
        t.remove(MAX_FDS as i64 - 1).unwrap();
        assert_eq!(t.insert(0, 7, false), Ok(MAX_FDS as i32 - 1));
    }
}
