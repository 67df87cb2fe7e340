//! Linux error numbers as they travel in [`Response::result`](super::Response).
//!
//! A result follows the Linux system call convention: `-4095..=-1` is a
//! negated errno, anything else non-negative is a value. Any other negative
//! number is not a result at all and is refused on receipt.

use core::fmt;

/// The largest errno Linux returns from a system call (`MAX_ERRNO`).
pub const MAX_ERRNO: u32 = 4095;

/// A Linux errno, `1..=MAX_ERRNO`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(u16);

/// A `u32` outside `1..=MAX_ERRNO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidErrno(pub u32);

macro_rules! errnos {
    ($($name:ident = $value:literal,)*) => {
        impl Errno {
            $(pub const $name: Errno = Errno($value);)*

            /// The symbolic name, if it is one of the common ones above.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

// The errnos the forwarded calls and the channel itself produce.
errnos! {
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    ENOEXEC = 8,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    EXDEV = 18,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    EMFILE = 24,
    ENOTTY = 25,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EPIPE = 32,
    ERANGE = 34,
    ENAMETOOLONG = 36,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    ELOOP = 40,
    EOVERFLOW = 75,
    EPROTO = 71,
    ETIMEDOUT = 110,
}

impl Errno {
    /// The errno's number.
    pub const fn get(self) -> u32 {
        self.0 as u32
    }

    /// The system call result that reports this errno.
    pub const fn to_result(self) -> i64 {
        -(self.0 as i64)
    }

    /// Splits a system call result into a value or an errno. The caller has
    /// validated `result` ([`Response::result_is_valid`](super::Response));
    /// an out-of-range negative result is reported as `EIO`.
    pub const fn from_result(result: i64) -> Result<u64, Errno> {
        if result >= 0 {
            Ok(result as u64)
        } else if result >= -(MAX_ERRNO as i64) {
            Err(Errno((-result) as u16))
        } else {
            Err(Errno::EIO)
        }
    }
}

impl TryFrom<u32> for Errno {
    type Error = InvalidErrno;

    fn try_from(x: u32) -> Result<Self, InvalidErrno> {
        if (1..=MAX_ERRNO).contains(&x) {
            Ok(Errno(x as u16))
        } else {
            Err(InvalidErrno(x))
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_from_accepts_exactly_the_errno_range() {
        assert_eq!(Errno::try_from(0), Err(InvalidErrno(0)));
        assert_eq!(Errno::try_from(2), Ok(Errno::ENOENT));
        assert_eq!(Errno::try_from(MAX_ERRNO).map(Errno::get), Ok(MAX_ERRNO));
        assert_eq!(
            Errno::try_from(MAX_ERRNO + 1),
            Err(InvalidErrno(MAX_ERRNO + 1))
        );
    }

    #[test]
    fn results_split_into_values_and_errnos() {
        assert_eq!(Errno::from_result(42), Ok(42));
        assert_eq!(Errno::from_result(-2), Err(Errno::ENOENT));
        assert_eq!(
            Errno::from_result(Errno::EBADF.to_result()),
            Err(Errno::EBADF)
        );
        assert_eq!(Errno::from_result(i64::MIN), Err(Errno::EIO));
        assert_eq!(Errno::EINVAL.name(), Some("EINVAL"));
        assert_eq!(Errno::try_from(200).unwrap().name(), None);
    }
}
