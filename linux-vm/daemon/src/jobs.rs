//! The jobs the daemon serves: each has its own descriptor table and
//! working directory, and all are confined to one root (the share, or a
//! directory of it).
//!
//! A job launched from the host (see `launch`) is created before its
//! `JobStart` is sent, with descriptors 0-2 bound to pipes the daemon
//! relays; a job the LWK numbers itself is created by its first forwarded
//! call. Either lasts until its `JobExit`, which closes everything it still
//! holds.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use channel::{Errno, JobId};

use crate::confine::Root;
use crate::fdtable::FdTable;
use crate::sys::{self, SysResult};

/// One job's state.
#[derive(Debug)]
pub struct Job {
    pub files: FdTable<OwnedFd>,
    /// The working directory, an `O_PATH` descriptor below the root.
    pub cwd: OwnedFd,
}

/// `AT_FDCWD` as a job passes it.
pub const AT_FDCWD: i64 = libc::AT_FDCWD as i64;

impl Job {
    /// A job in the root directory with descriptors 0 (`/dev/null`), 1 and 2
    /// (the daemon's own stdout and stderr, the VM console).
    pub fn new(root: &Root) -> SysResult<Job> {
        let mut files = FdTable::default();
        files.insert(0, sys::open(c"/dev/null", libc::O_RDONLY)?, false)?;
        files.insert(1, sys::dup(std::io::stdout().as_fd())?, false)?;
        files.insert(2, sys::dup(std::io::stderr().as_fd())?, false)?;
        Ok(Job {
            files,
            cwd: root.open_dir()?,
        })
    }

    /// A job in the root directory with `stdio` as descriptors 0, 1, 2.
    pub fn with_stdio(root: &Root, stdio: [OwnedFd; 3]) -> SysResult<Job> {
        let mut files = FdTable::default();
        for (n, fd) in stdio.into_iter().enumerate() {
            files.insert(n as u64, fd, false)?;
        }
        Ok(Job {
            files,
            cwd: root.open_dir()?,
        })
    }

    /// The open file of descriptor `fd`.
    pub fn file(&self, fd: i64) -> Result<BorrowedFd<'_>, Errno> {
        self.files.get(fd).map(AsFd::as_fd)
    }

    /// The directory a `*at` call starts from: the cwd for `AT_FDCWD`.
    pub fn dir(&self, dirfd: i64) -> Result<BorrowedFd<'_>, Errno> {
        if dirfd == AT_FDCWD {
            Ok(self.cwd.as_fd())
        } else {
            self.file(dirfd)
        }
    }
}

/// Every job, and the root they are confined to.
#[derive(Debug)]
pub struct Jobs {
    pub root: Root,
    jobs: HashMap<JobId, Job>,
}

impl Jobs {
    pub fn new(root: Root) -> Self {
        Self {
            root,
            jobs: HashMap::new(),
        }
    }

    /// The root and job `id`, created on its first call.
    pub fn job(&mut self, id: JobId) -> SysResult<(&Root, &mut Job)> {
        if !self.jobs.contains_key(&id) {
            let job = Job::new(&self.root)?;
            self.jobs.insert(id, job);
        }
        let job = self.jobs.get_mut(&id).ok_or(Errno::EIO)?;
        Ok((&self.root, job))
    }

    /// Job `id` if it exists (never created here).
    pub fn existing(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// Adds job `id` made by the caller; EEXIST if the number is taken.
    pub fn insert(&mut self, id: JobId, job: Job) -> SysResult<()> {
        if self.jobs.contains_key(&id) {
            return Err(Errno::EEXIST);
        }
        self.jobs.insert(id, job);
        Ok(())
    }

    /// Ends job `id`, closing what it held; false if it did not exist.
    pub fn end(&mut self, id: JobId) -> bool {
        self.jobs.remove(&id).is_some()
    }

    /// Ends every job (the LWK restarted: its jobs are gone).
    pub fn clear(&mut self) {
        self.jobs.clear();
    }
}
