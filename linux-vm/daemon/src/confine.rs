//! Keeping a job inside its directory tree.
//!
//! A job sees its root directory (a directory of the 9p share) as `/`.
//! Every path it names is resolved by the kernel with `openat2(2)`:
//!
//! - a relative path from a directory descriptor (the job's cwd or one of
//!   its open directories) first with `RESOLVE_BENEATH`, which refuses any
//!   step — a `..`, an absolute path, a symlink — that would leave that
//!   directory;
//! - when that refuses (`EXDEV`), and for absolute paths, from the job root
//!   with `RESOLVE_IN_ROOT`, which treats the root as `/`: `..` at the root
//!   stays there and absolute symlinks resolve inside it, as under
//!   `chroot(2)`. The directory's own path below the root comes from
//!   `/proc/self/fd`, so it is current even if the directory was renamed.
//!
//! `RESOLVE_NO_MAGICLINKS` is always set (no `/proc/*/fd` jumps). The calls
//! that act on a directory entry rather than a file (`mkdirat`,
//! `unlinkat`, `renameat`) resolve the parent the same way and then act on
//! one plain name in it; the rest open the file itself as `O_PATH` and act
//! on that descriptor. There is no path string checking in user space that
//! a race could defeat.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use channel::Errno;

use crate::path::{self, Split};
use crate::sys::{self, SysResult, RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};

/// A job's root directory.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    /// Its path in the daemon's file system, to turn `/proc/self/fd` links
    /// into paths below the root.
    real: PathBuf,
    /// The read-only program tree seen as [`PROGRAMS`] (see
    /// [`Root::with_programs`]).
    programs: Option<OwnedFd>,
}

/// Where a job sees the program tree: absolute paths starting with this
/// component resolve in it, not in the root.
pub const PROGRAMS: &[u8] = b".lwk";

impl Root {
    /// Opens `dir` (an absolute path of the daemon's file system) as a root.
    pub fn open(dir: &Path) -> SysResult<Root> {
        let real = std::fs::canonicalize(dir).map_err(|_| Errno::ENOENT)?;
        let c = CString::new(real.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        let fd = sys::open(&c, libc::O_PATH | libc::O_DIRECTORY)?;
        Ok(Root {
            fd,
            real,
            programs: None,
        })
    }

    /// Makes the directory `dir` visible to jobs, read only, as `/.lwk`:
    /// an absolute path `/.lwk/REST` resolves `REST` in `dir` with the same
    /// `RESOLVE_IN_ROOT` rules (so `..` stays inside `dir`). This is how a
    /// program outside the job's tree (e.g. `/usr/bin/busybox`, shared into
    /// the Linux VM read-only) is loaded by the LWK. Relative paths never
    /// reach it, and a `.lwk` entry at the top of the root is hidden.
    pub fn with_programs(mut self, dir: &Path) -> SysResult<Root> {
        let c = CString::new(dir.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        self.programs = Some(sys::open(&c, libc::O_PATH | libc::O_DIRECTORY)?);
        Ok(self)
    }

    /// For an absolute `path` naming something under `/.lwk`: the program
    /// tree and the rest of the path (`"."` for `/.lwk` itself).
    fn program_path(&self, path: &CStr) -> Option<(BorrowedFd<'_>, CString)> {
        let programs = self.programs.as_ref()?;
        let bytes = path.to_bytes();
        if bytes.first() != Some(&b'/') {
            return None;
        }
        let trimmed = &bytes[bytes.iter().position(|&b| b != b'/')?..];
        let rest = trimmed.strip_prefix(PROGRAMS)?;
        let rest = match rest.first() {
            None => &b"."[..],
            Some(b'/') => {
                let r = &rest[rest.iter().position(|&b| b != b'/').unwrap_or(rest.len())..];
                if r.is_empty() {
                    &b"."[..]
                } else {
                    r
                }
            }
            Some(_) => return None,
        };
        Some((programs.as_fd(), CString::new(rest).ok()?))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A new descriptor of the root directory (a job's first cwd).
    pub fn open_dir(&self) -> SysResult<OwnedFd> {
        sys::openat2(
            self.fd(),
            c".",
            (libc::O_PATH | libc::O_DIRECTORY) as u64,
            0,
            RESOLVE_IN_ROOT,
        )
    }

    /// The path of directory `dir` below the root, without leading slash
    /// (empty for the root itself).
    pub fn path_of(&self, dir: BorrowedFd) -> SysResult<Vec<u8>> {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd()))
            .map_err(|_| Errno::EBADF)?;
        let rel = link.strip_prefix(&self.real).map_err(|_| Errno::ENOENT)?;
        Ok(rel.as_os_str().as_bytes().to_vec())
    }

    /// Opens `path` as a job would from directory `base`, confined to the
    /// root. `flags` and `mode` are open(2)'s (O_CLOEXEC is always added:
    /// the daemon never execs).
    pub fn open_at(
        &self,
        base: BorrowedFd,
        path: &CStr,
        flags: u64,
        mode: u64,
    ) -> SysResult<OwnedFd> {
        let resolve = RESOLVE_NO_MAGICLINKS;
        if let Some((programs, rest)) = self.program_path(path) {
            let writes = libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC;
            if flags & writes as u64 != 0 {
                return Err(Errno::EROFS);
            }
            return sys::openat2(programs, &rest, flags, mode, resolve | RESOLVE_IN_ROOT);
        }
        if path.to_bytes().first() == Some(&b'/') {
            let rel = path::from_root(path);
            return sys::openat2(self.fd(), &rel, flags, mode, resolve | RESOLVE_IN_ROOT);
        }
        match sys::openat2(base, path, flags, mode, resolve | RESOLVE_BENEATH) {
            Err(e) if e == Errno::EXDEV => {
                let joined = path::join(&self.path_of(base)?, path.to_bytes())?;
                sys::openat2(self.fd(), &joined, flags, mode, resolve | RESOLVE_IN_ROOT)
            }
            other => other,
        }
    }

    /// Opens the file `path` names as an `O_PATH` descriptor, following a
    /// final symlink unless `nofollow`.
    pub fn locate(&self, base: BorrowedFd, path: &CStr, nofollow: bool) -> SysResult<OwnedFd> {
        let mut flags = libc::O_PATH;
        if nofollow {
            flags |= libc::O_NOFOLLOW;
        }
        self.open_at(base, path, flags as u64, 0)
    }

    /// Opens the directory holding the entry `path` names, for the calls
    /// that act on an entry; returns it and the split path.
    pub fn parent(&self, base: BorrowedFd, path: &CStr) -> SysResult<(OwnedFd, Split)> {
        if self.program_path(path).is_some() {
            return Err(Errno::EROFS);
        }
        let split = path::split_last(path);
        let dir = self.open_at(
            base,
            &split.parent,
            (libc::O_PATH | libc::O_DIRECTORY) as u64,
            0,
        )?;
        Ok((dir, split))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// A tree: root/{file, sub/inner, up -> .., abs -> /file, out -> ../outside}
    /// beside a file the job must never reach.
    fn tree(name: &str) -> (PathBuf, Root) {
        let top =
            std::env::temp_dir().join(format!("daemon-confine-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&top);
        let root = top.join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(top.join("outside"), "secret").unwrap();
        fs::write(root.join("file"), "root file").unwrap();
        fs::write(root.join("sub/inner"), "inner").unwrap();
        symlink("..", root.join("sub/up")).unwrap();
        symlink("/file", root.join("abs")).unwrap();
        symlink("../outside", root.join("out")).unwrap();
        symlink("/proc/self/root/etc/hostname", root.join("magic")).unwrap();
        let r = Root::open(&root).unwrap();
        (top, r)
    }

    fn read(root: &Root, base: BorrowedFd, p: &CStr) -> Result<String, Errno> {
        let fd = root.open_at(base, p, libc::O_RDONLY as u64, 0)?;
        let mut buf = [0u8; 64];
        let n = sys::read(fd.as_fd(), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    #[test]
    fn paths_resolve_inside_the_root_only() {
        let (top, root) = tree("inside");
        let cwd = root.open_dir().unwrap();
        let sub = root.locate(cwd.as_fd(), c"sub", false).unwrap();
        let at = |base: BorrowedFd, p: &CStr| read(&root, base, p);
        assert_eq!(at(cwd.as_fd(), c"file").unwrap(), "root file");
        assert_eq!(at(cwd.as_fd(), c"/file").unwrap(), "root file");
        assert_eq!(at(sub.as_fd(), c"inner").unwrap(), "inner");
        // `..` from a subdirectory is fine while it stays inside.
        assert_eq!(at(sub.as_fd(), c"../file").unwrap(), "root file");
        assert_eq!(at(sub.as_fd(), c"up/file").unwrap(), "root file");
        // Absolute symlinks point into the root, not the host.
        assert_eq!(at(cwd.as_fd(), c"abs").unwrap(), "root file");
        // Escapes clamp at the root: ../outside is /outside inside the root.
        assert_eq!(at(cwd.as_fd(), c"../outside"), Err(Errno::ENOENT));
        assert_eq!(at(cwd.as_fd(), c"/../../outside"), Err(Errno::ENOENT));
        assert_eq!(at(sub.as_fd(), c"../../outside"), Err(Errno::ENOENT));
        assert_eq!(at(cwd.as_fd(), c"out"), Err(Errno::ENOENT));
        assert_eq!(at(sub.as_fd(), c"up/sub/up/../file").unwrap(), "root file");
        // ... and `..` at the root is the root, as under chroot.
        assert_eq!(at(cwd.as_fd(), c"../file").unwrap(), "root file");
        // Magic links are refused.
        assert!(at(cwd.as_fd(), c"/proc/self/root/etc/hostname").is_err());
        assert!(at(cwd.as_fd(), c"magic").is_err());
        assert_eq!(root.path_of(sub.as_fd()).unwrap(), b"sub");
        assert_eq!(root.path_of(cwd.as_fd()).unwrap(), b"");
        fs::remove_dir_all(top).unwrap();
    }

    #[test]
    fn the_program_tree_is_reached_by_absolute_paths_only() {
        let (top, root) = tree("programs");
        let progs = top.join("progs");
        fs::create_dir_all(progs.join("0")).unwrap();
        fs::write(progs.join("0/tool"), "program").unwrap();
        let root = root.with_programs(&progs).unwrap();
        fs::create_dir_all(top.join("root/.lwk/0")).unwrap();
        fs::write(top.join("root/.lwk/0/tool"), "shadowed").unwrap();
        let cwd = root.open_dir().unwrap();
        let at = |p: &CStr| read(&root, cwd.as_fd(), p);
        assert_eq!(at(c"/.lwk/0/tool").unwrap(), "program");
        assert_eq!(at(c"//.lwk//0/tool").unwrap(), "program");
        assert_eq!(at(c"/.lwk/0/../../0/tool").unwrap(), "program");
        // Relative paths stay in the root, where .lwk is an ordinary name.
        assert_eq!(at(c".lwk/0/tool").unwrap(), "shadowed");
        assert_eq!(at(c"/.lwkx"), Err(Errno::ENOENT));
        // Nothing escapes the program tree, nothing is written in it.
        assert_eq!(at(c"/.lwk/../root/file"), Err(Errno::ENOENT));
        assert_eq!(
            root.open_at(cwd.as_fd(), c"/.lwk/0/tool", libc::O_WRONLY as u64, 0)
                .unwrap_err(),
            Errno::EROFS
        );
        assert_eq!(
            root.parent(cwd.as_fd(), c"/.lwk/0/new").unwrap_err(),
            Errno::EROFS
        );
        assert!(root.locate(cwd.as_fd(), c"/.lwk", false).is_ok());
        fs::remove_dir_all(top).unwrap();
    }

    #[test]
    fn parents_of_entries_are_confined_too() {
        let (top, root) = tree("parent");
        let cwd = root.open_dir().unwrap();
        let (dir, split) = root.parent(cwd.as_fd(), c"../../x").unwrap();
        assert_eq!(root.path_of(dir.as_fd()).unwrap(), b"");
        assert_eq!(split.last.as_bytes(), b"x");
        let (dir, _) = root.parent(cwd.as_fd(), c"sub/up/sub/new").unwrap();
        assert_eq!(root.path_of(dir.as_fd()).unwrap(), b"sub");
        assert_eq!(
            root.parent(cwd.as_fd(), c"nope/x").unwrap_err(),
            Errno::ENOENT
        );
        fs::remove_dir_all(top).unwrap();
    }
}
