//! Turning a static Linux executable into a runnable image.
//!
//! The three steps are independent and pure, so they are tested on the host:
//! [`elf`] validates the file into a [`elf::LoadPlan`], [`rewrite`] turns
//! every `syscall` in its code into `ud2` (the trap design, see the
//! architecture notes), and [`stack`] lays out the initial process stack
//! (argv, envp, auxv). Mapping frames and copying bytes is the seL4 binary's
//! job; it follows the plan without re-validating it.

pub mod elf;
pub mod rewrite;
pub mod stack;
