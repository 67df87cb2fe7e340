//! What stops the personality, as types.

use crate::fwcfg::FwCfgError;
use lwk_handoff::{HandoffError, HANDOFF_VADDR};

#[derive(Debug)]
pub enum PersonalityError {
    Handoff(HandoffError),
    /// The start argument is not the handoff address.
    BadStartArg(u64),
    Alloc(sel4_alloc::AllocError),
    Map(sel4_alloc::MapError),
    Sel4 {
        what: &'static str,
        err: sel4::Error,
    },
    /// A frame written through the direct map read back differently
    /// through a second mapping of the same frame.
    DirectMapMismatch {
        paddr: u64,
    },
    /// A handler thread did not report in time.
    HandlerTimeout {
        node: u64,
    },
    /// The pool has no frame left.
    PoolExhausted,
    /// The root task gave the personality no application node to run on.
    NoApplicationNode,
    /// A job run did not give the Linux VM link back.
    LinkLost,
    /// Part of a program image falls outside the memory mapped for it.
    ImageOutsideJob,
    /// The job pack could not be read.
    Jobs(FwCfgError),
    /// The job pack is malformed.
    Pack(lwk_jobpack::PackError),
    /// A program was refused by the ELF loader.
    Elf(lwk_personality::loader::elf::ElfError),
    /// The initial stack could not be built.
    Stack(lwk_personality::loader::stack::StackError),
    /// The memory manager refused the image or stack.
    Mm(lwk_personality::mm::MmError),
}

impl core::fmt::Display for PersonalityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PersonalityError::Handoff(e) => write!(f, "{e}"),
            PersonalityError::BadStartArg(a) => {
                write!(
                    f,
                    "started with {a:#x}, expected the handoff at {HANDOFF_VADDR:#x}"
                )
            }
            PersonalityError::Alloc(e) => write!(f, "{e}"),
            PersonalityError::Map(e) => write!(f, "{e}"),
            PersonalityError::Sel4 { what, err } => write!(f, "{what}: {err}"),
            PersonalityError::DirectMapMismatch { paddr } => {
                write!(f, "direct map of frame {paddr:#x} does not read back")
            }
            PersonalityError::LinkLost => write!(f, "the Linux VM link was lost by a job"),
            PersonalityError::NoApplicationNode => {
                write!(f, "no application node: jobs cannot run")
            }
            PersonalityError::HandlerTimeout { node } => {
                write!(f, "handler for node {node} did not start in time")
            }
            PersonalityError::PoolExhausted => write!(f, "the memory pool is exhausted"),
            PersonalityError::ImageOutsideJob => {
                write!(f, "program image outside its mapped memory")
            }
            PersonalityError::Jobs(e) => write!(f, "job pack: {e}"),
            PersonalityError::Pack(e) => write!(f, "{e}"),
            PersonalityError::Elf(e) => write!(f, "{e}"),
            PersonalityError::Stack(e) => write!(f, "initial stack: {e:?}"),
            PersonalityError::Mm(e) => write!(f, "memory: {e:?}"),
        }
    }
}

impl From<sel4_alloc::AllocError> for PersonalityError {
    fn from(e: sel4_alloc::AllocError) -> Self {
        PersonalityError::Alloc(e)
    }
}

impl From<sel4_alloc::MapError> for PersonalityError {
    fn from(e: sel4_alloc::MapError) -> Self {
        PersonalityError::Map(e)
    }
}

impl From<sel4::Failed> for PersonalityError {
    fn from(f: sel4::Failed) -> Self {
        PersonalityError::Sel4 {
            what: f.what,
            err: f.err,
        }
    }
}
