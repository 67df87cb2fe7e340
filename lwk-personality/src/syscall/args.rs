//! Typed access to the six argument registers.
//!
//! Handlers never index registers: they ask for "argument 1 as a file
//! descriptor" or "argument 2 as a user pointer", and the accessor applies
//! Linux's conversion (32-bit arguments are the low half of the register; the
//! upper half is ignored, as the kernel's `SYSCALL_DEFINE` wrappers do).

/// A user-space address as the application gave it: an *allegation*, not a
/// pointer. Only [`super::Process::copy_in`]/[`super::Process::copy_out`]
/// turn it into memory accesses, after checking it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserAddr(pub u64);

impl UserAddr {
    /// The null address (an optional argument left out).
    pub const NULL: UserAddr = UserAddr(0);

    /// Whether this is the null address.
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// `self + off`, or `None` if it wraps.
    pub fn offset(self, off: u64) -> Option<UserAddr> {
        self.0.checked_add(off).map(UserAddr)
    }
}

/// The arguments of one system call: RDI, RSI, RDX, R10, R8, R9.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Args {
    regs: [u64; 6],
}

impl Args {
    /// Wraps the six argument registers, in ABI order.
    pub const fn new(regs: [u64; 6]) -> Self {
        Self { regs }
    }

    /// Argument `i` as the raw 64-bit register value.
    pub const fn raw(&self, i: usize) -> u64 {
        self.regs[i]
    }

    /// Argument `i` as a C `int` (low 32 bits, signed).
    pub const fn int(&self, i: usize) -> i32 {
        self.regs[i] as u32 as i32
    }

    /// Argument `i` as a C `unsigned int` (low 32 bits).
    pub const fn uint(&self, i: usize) -> u32 {
        self.regs[i] as u32
    }

    /// Argument `i` as a file descriptor.
    pub const fn fd(&self, i: usize) -> i32 {
        self.int(i)
    }

    /// Argument `i` as a user pointer.
    pub const fn ptr(&self, i: usize) -> UserAddr {
        UserAddr(self.regs[i])
    }

    /// Argument `i` as a `size_t`.
    pub const fn len(&self, i: usize) -> usize {
        self.regs[i] as usize
    }

    /// Argument `i` as a process or thread id (`pid_t`).
    pub const fn pid(&self, i: usize) -> i32 {
        self.int(i)
    }

    /// Argument `i` as a signed 64-bit value (`off_t`, `long`).
    pub const fn long(&self, i: usize) -> i64 {
        self.regs[i] as i64
    }
}
