//! `seL4_Error` as a Rust enum.

use core::fmt;

/// An error returned by an invocation (the reply's label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Error {
    InvalidArgument = 1,
    InvalidCapability = 2,
    IllegalOperation = 3,
    RangeError = 4,
    AlignmentError = 5,
    FailedLookup = 6,
    TruncatedMessage = 7,
    DeleteFirst = 8,
    RevokeFirst = 9,
    NotEnoughMemory = 10,
    /// A label outside `seL4_Error`: the kernel never sends one, so this
    /// means a protocol mix-up (e.g. calling an endpoint, not an object).
    Unknown(u64) = 11,
}

/// `seL4_NumErrors` of 5.0.0: a kernel with more errors must fail here.
pub const NUM_ERRORS: u64 = 11;

/// Result of an invocation.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// `Ok(())` for `seL4_NoError`, the error otherwise.
    pub fn check(label: u64) -> Result<()> {
        Err(match label {
            0 => return Ok(()),
            1 => Error::InvalidArgument,
            2 => Error::InvalidCapability,
            3 => Error::IllegalOperation,
            4 => Error::RangeError,
            5 => Error::AlignmentError,
            6 => Error::FailedLookup,
            7 => Error::TruncatedMessage,
            8 => Error::DeleteFirst,
            9 => Error::RevokeFirst,
            10 => Error::NotEnoughMemory,
            n => Error::Unknown(n),
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unknown(n) => write!(f, "seL4 error {n} (unknown)"),
            e => write!(f, "seL4_{e:?}"),
        }
    }
}

/// A failed invocation with what it was for: components wrap it into
/// their own error types (`From<Failed>`), so every call site says
/// `.context("TCB_Configure (handler)")?` the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    pub what: &'static str,
    pub err: Error,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.err)
    }
}

/// Attaches a description to an invocation's error.
pub trait Context<T> {
    fn context(self, what: &'static str) -> core::result::Result<T, Failed>;
}

impl<T> Context<T> for Result<T> {
    fn context(self, what: &'static str) -> core::result::Result<T, Failed> {
        self.map_err(|err| Failed { what, err })
    }
}
