//! The second `newc` archive of the benchmark VM's initramfs (directories
//! and regular files only; see `crate::linuxvm` for the image's own).
//! Inode numbers start high so they never meet the base archive's (the
//! kernel only links files with `nlink > 1`, which these never have).

#[derive(Default)]
pub struct Archive {
    bytes: Vec<u8>,
    next_ino: u32,
}

impl Archive {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.next_ino += 1;
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let fields = [
            0x0010_0000 + self.next_ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
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

    pub fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, &[]);
    }

    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100000 | perm, data);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_newc_and_aligned() {
        let mut a = Archive::default();
        a.dir("bench");
        a.file("bench/x", 0o755, b"abc");
        let b = a.finish();
        assert!(b.starts_with(b"070701"));
        assert_eq!(&b[14..22], b"000041ed");
        assert_eq!(b.len() % 4, 0);
        let x = b.windows(8).position(|w| w == b"bench/x\0").unwrap();
        // 110-byte header + 8-byte name, padded to 120: the data follows.
        assert_eq!(&b[x + 10..x + 13], b"abc");
        assert!(b.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
