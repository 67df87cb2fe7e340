//! A `newc` cpio archive writer: the format the kernel unpacks as an
//! initramfs (`Documentation/driver-api/early-userspace/buffer-format.rst`).
//! Entries get owner root, mtime 0 and inode numbers in order, so the same
//! inputs give the same bytes.

/// Builds an archive in memory.
#[derive(Default)]
pub struct Archive {
    bytes: Vec<u8>,
    next_ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl Archive {
    /// An archive whose inode numbers start after `first` — for a second
    /// archive appended to an initramfs, whose inodes must not meet the
    /// first one's (the kernel links files with the same inode number when
    /// `nlink > 1`; these entries never have that, but distinct numbers keep
    /// the two archives independent).
    pub fn with_inodes_after(first: u32) -> Self {
        Archive {
            bytes: Vec::new(),
            next_ino: first,
        }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.next_ino += 1;
        let nlink = if mode & 0o170000 == S_IFDIR { 2 } else { 1 };
        let fields = [
            self.next_ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            data.len() as u32,
            0, // dev major
            0, // dev minor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        self.bytes.extend_from_slice(b"070701");
        for f in fields {
            self.bytes.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    /// A directory (`name` without leading slash, e.g. `bin`).
    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, (0, 0), &[]);
    }

    /// A regular file with permission bits `perm`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, S_IFREG | perm, (0, 0), data);
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, (0, 0), target.as_bytes());
    }

    /// A character device node.
    pub fn char_dev(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | perm, (major, minor), &[]);
    }

    /// Ends the archive and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_headers_names_and_padding() {
        let mut a = Archive::default();
        a.dir("bin");
        a.file("init", 0o755, b"#!/bin/sh\n");
        a.char_dev("dev/console", 0o600, 5, 1);
        let bytes = a.finish();
        // Every header starts on a 4-byte boundary with the newc magic.
        assert!(bytes.starts_with(b"070701"));
        let header = std::str::from_utf8(&bytes[..110]).unwrap();
        // mode of "bin": a directory, 0755.
        assert_eq!(&header[14..22], "000041ed");
        assert_eq!(&bytes[110..114], b"bin\0");
        let init = bytes.windows(5).position(|w| w == b"init\0").unwrap();
        // 110-byte header + "init\0" = 115, padded to 116: data at +6 from the name.
        assert_eq!(&bytes[init + 6..init + 16], b"#!/bin/sh\n");
        assert_eq!((init - 110) % 4, 0);
        let console = bytes
            .windows(12)
            .position(|w| w == b"dev/console\0")
            .unwrap();
        let h = std::str::from_utf8(&bytes[console - 110..console]).unwrap();
        assert_eq!(&h[14..22], "00002180");
        assert_eq!((&h[78..86], &h[86..94]), ("00000005", "00000001"));
        assert!(
            bytes.ends_with(b"TRAILER!!!\0\0\0\0") || bytes.windows(10).any(|w| w == b"TRAILER!!!")
        );
        assert_eq!(bytes.len() % 4, 0);
    }
}
