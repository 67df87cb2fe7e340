//! Typed capability pointers.

use core::fmt;
use core::marker::PhantomData;

/// A kind of capability (`cap_type::Tcb`, ...). Invocations are inherent
/// methods of `Cap<ThatKind>`, so calling a TCB method on an endpoint does
/// not compile.
pub trait CapType: Copy {
    /// Name used in diagnostics.
    const NAME: &'static str;
}

/// A capability pointer (an index into the caller's CSpace) of kind `T`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cap<T: CapType> {
    bits: u64,
    _kind: PhantomData<T>,
}

/// A capability pointer of unspecified kind (`seL4_CPtr`).
pub type CPtr = Cap<crate::cap_type::Unspecified>;

impl<T: CapType> Cap<T> {
    /// The cap at CSpace index `bits`.
    pub const fn from_bits(bits: u64) -> Self {
        Cap {
            bits,
            _kind: PhantomData,
        }
    }
    /// The CSpace index.
    pub const fn bits(self) -> u64 {
        self.bits
    }
    /// Reinterprets as another kind. The kernel checks the real type on use.
    pub const fn cast<U: CapType>(self) -> Cap<U> {
        Cap::from_bits(self.bits)
    }
    /// Forgets the kind (for `seL4_CPtr` parameters).
    pub const fn upcast(self) -> CPtr {
        Cap::from_bits(self.bits)
    }
}

impl<T: CapType> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cap<{}>({:#x})", T::NAME, self.bits)
    }
}

/// Short aliases: `cap::Tcb` is `Cap<cap_type::Tcb>`.
pub mod cap {
    use super::Cap;
    use crate::cap_type;
    pub type Untyped = Cap<cap_type::Untyped>;
    pub type Tcb = Cap<cap_type::Tcb>;
    pub type CNode = Cap<cap_type::CNode>;
    pub type Endpoint = Cap<cap_type::Endpoint>;
    pub type Notification = Cap<cap_type::Notification>;
    pub type Page = Cap<cap_type::Page>;
    pub type PageTable = Cap<cap_type::PageTable>;
    pub type PageDirectory = Cap<cap_type::PageDirectory>;
    pub type Pdpt = Cap<cap_type::Pdpt>;
    pub type Pml4 = Cap<cap_type::Pml4>;
    pub type IoPort = Cap<cap_type::IoPort>;
    pub type AsidPool = Cap<cap_type::AsidPool>;
    pub type IrqControl = Cap<cap_type::IrqControl>;
    pub type IrqHandler = Cap<cap_type::IrqHandler>;
}
