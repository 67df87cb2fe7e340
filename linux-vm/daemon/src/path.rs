//! Pure path handling: taking a path out of a request's data, and splitting
//! it for the calls that act on a directory entry rather than on a file.
//!
//! Nothing here touches the file system; confinement itself is done by the
//! kernel (see [`crate::confine`]).

use std::ffi::{CStr, CString};

use channel::Errno;

/// Longest path accepted, with its NUL (Linux's `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// The NUL-terminated path at byte `offset` of a request's `data`.
///
/// EFAULT when the offset is outside the data or no NUL follows it (as
/// Linux answers a pointer to unmapped memory), ENAMETOOLONG past
/// [`PATH_MAX`], ENOENT for the empty path (callers that accept it with
/// `AT_EMPTY_PATH` check [`is_empty_path`] first).
pub fn path_arg(data: &[u8], offset: u64) -> Result<&CStr, Errno> {
    let path = raw_path_arg(data, offset)?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    Ok(path)
}

/// As [`path_arg`] but the empty path is returned as is.
pub fn raw_path_arg(data: &[u8], offset: u64) -> Result<&CStr, Errno> {
    let start = usize::try_from(offset).map_err(|_| Errno::EFAULT)?;
    let rest = data.get(start..).ok_or(Errno::EFAULT)?;
    let path = CStr::from_bytes_until_nul(rest).map_err(|_| Errno::EFAULT)?;
    if path.to_bytes().len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(path)
}

/// A path split into the directory holding its last component and that
/// component.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// The directory part: `"."` for a bare name, `"/"` for a name at the
    /// root; otherwise the path up to the last slash (trailing slashes of the
    /// directory part kept out).
    pub parent: CString,
    /// The last component, never empty and never containing `/`; may be
    /// `"."` or `".."` (see [`Split::is_dot`]).
    pub last: CString,
    /// The path ended with `/`: the entry must be a directory.
    pub trailing_slash: bool,
}

impl Split {
    /// The last component is `.` or `..`, which names no entry of its own
    /// directory.
    pub fn is_dot(&self) -> bool {
        matches!(self.last.to_bytes(), b"." | b"..")
    }
}

/// Splits `path` (not empty) into its parent directory and last component.
/// `"/"` alone splits into `("/", ".")`.
pub fn split_last(path: &CStr) -> Split {
    let bytes = path.to_bytes();
    let trimmed_len = bytes.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    let trailing_slash = trimmed_len < bytes.len() && trimmed_len > 0;
    let trimmed = &bytes[..trimmed_len];
    if trimmed.is_empty() {
        return Split {
            parent: c"/".to_owned(),
            last: c".".to_owned(),
            trailing_slash: false,
        };
    }
    let (parent, last) = match trimmed.iter().rposition(|&b| b == b'/') {
        None => (&b"."[..], trimmed),
        Some(slash) => {
            let name = &trimmed[slash + 1..];
            let dir = &trimmed[..slash];
            let dir_len = dir.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
            if dir_len == 0 {
                (&b"/"[..], name)
            } else {
                (&dir[..dir_len], name)
            }
        }
    };
    // Neither part contains a NUL: both are sub-slices of a C string.
    Split {
        parent: CString::new(parent).expect("no NUL inside a C string"),
        last: CString::new(last).expect("no NUL inside a C string"),
        trailing_slash,
    }
}

/// `base` (a directory's path relative to the job root, without leading
/// slash, empty for the root) joined with relative `path`, for resolution
/// from the root.
pub fn join(base: &[u8], path: &[u8]) -> Result<CString, Errno> {
    let mut joined = Vec::with_capacity(base.len() + path.len() + 1);
    joined.extend_from_slice(base);
    if !base.is_empty() && !path.is_empty() {
        joined.push(b'/');
    }
    joined.extend_from_slice(path);
    if joined.is_empty() {
        joined.push(b'.');
    }
    if joined.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    CString::new(joined).map_err(|_| Errno::EINVAL)
}

/// A path relative to the root: leading slashes stripped, `"."` if nothing
/// is left.
pub fn from_root(path: &CStr) -> CString {
    let bytes = path.to_bytes();
    let start = bytes.iter().position(|&b| b != b'/').unwrap_or(bytes.len());
    if start == bytes.len() {
        return c".".to_owned();
    }
    CString::new(&bytes[start..]).expect("no NUL inside a C string")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(p: &str) -> (String, String, bool) {
        let c = CString::new(p).unwrap();
        let s = split_last(&c);
        (
            s.parent.to_str().unwrap().to_string(),
            s.last.to_str().unwrap().to_string(),
            s.trailing_slash,
        )
    }

    #[test]
    fn paths_come_out_of_request_data_checked() {
        let data = b"abc\0/etc/passwd\0tail";
        assert_eq!(path_arg(data, 0).unwrap().to_bytes(), b"abc");
        assert_eq!(path_arg(data, 4).unwrap().to_bytes(), b"/etc/passwd");
        assert_eq!(path_arg(data, 3), Err(Errno::ENOENT));
        assert_eq!(raw_path_arg(data, 3).unwrap().to_bytes(), b"");
        // No NUL after the offset, or an offset outside the data.
        assert_eq!(path_arg(data, 16), Err(Errno::EFAULT));
        assert_eq!(path_arg(data, 99), Err(Errno::EFAULT));
        assert_eq!(path_arg(data, u64::MAX), Err(Errno::EFAULT));
        let mut long = vec![b'a'; PATH_MAX];
        long.push(0);
        assert_eq!(path_arg(&long, 0), Err(Errno::ENAMETOOLONG));
    }

    #[test]
    fn splits_like_dirname_and_basename() {
        let s = |p, d: &str, l: &str, t| assert_eq!(split(p), (d.into(), l.into(), t), "{p}");
        s("a", ".", "a", false);
        s("a/b", "a", "b", false);
        s("a//b", "a", "b", false);
        s("/a", "/", "a", false);
        s("//a", "/", "a", false);
        s("/a/b/c", "/a/b", "c", false);
        s("a/b/", "a", "b", true);
        s("a/b//", "a", "b", true);
        s("/", "/", ".", false);
        s("///", "/", ".", false);
        s("a/..", "a", "..", false);
        s("..", ".", "..", false);
        assert!(split_last(c"x/..").is_dot());
        assert!(!split_last(c"x/...").is_dot());
    }

    #[test]
    fn joins_and_strips_for_resolution_from_the_root() {
        assert_eq!(join(b"", b"x").unwrap().as_bytes(), b"x");
        assert_eq!(join(b"a/b", b"../x").unwrap().as_bytes(), b"a/b/../x");
        assert_eq!(join(b"", b"").unwrap().as_bytes(), b".");
        assert_eq!(join(b"a", b"").unwrap().as_bytes(), b"a");
        assert_eq!(join(&[b'a'; PATH_MAX], b"x"), Err(Errno::ENAMETOOLONG));
        assert_eq!(from_root(c"/etc/passwd").as_bytes(), b"etc/passwd");
        assert_eq!(from_root(c"///").as_bytes(), b".");
        assert_eq!(from_root(c"rel").as_bytes(), b"rel");
    }
}
