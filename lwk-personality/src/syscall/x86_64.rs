//! x86_64-specific calls: `arch_prctl`, which static programs use to set
//! their thread pointer before anything else.

use super::args::Args;
use super::errno::Errno;
use super::process::Process;
use super::{write_words, SysResult};
use crate::loader::elf::USER_END;

const ARCH_SET_GS: u32 = 0x1001;
const ARCH_SET_FS: u32 = 0x1002;
const ARCH_GET_FS: u32 = 0x1003;
const ARCH_GET_GS: u32 = 0x1004;

/// Implements Linux `arch_prctl(2)`; local. The FS base is the thread's
/// `tls_base` in seL4's register set. seL4 5.0's x86_64 thread context has
/// no GS base, so `ARCH_SET_GS` is refused (`EINVAL`) and `ARCH_GET_GS`
/// reads 0, the base every thread starts with; other codes are `EINVAL`, as
/// Linux answers codes it does not know (e.g. the CET queries glibc makes).
pub fn arch_prctl(p: &mut dyn Process, args: Args) -> SysResult {
    let addr = args.raw(1);
    match args.uint(0) {
        ARCH_SET_FS => {
            // Linux refuses non-canonical and kernel addresses.
            if addr >= USER_END {
                return Err(Errno::EPERM.into());
            }
            p.set_fs_base(addr);
        }
        ARCH_GET_FS => {
            let base = p.fs_base();
            write_words(p, args.ptr(1), &[base])?;
        }
        ARCH_GET_GS => write_words(p, args.ptr(1), &[0])?,
        ARCH_SET_GS => return Err(Errno::EINVAL.into()),
        _ => return Err(Errno::EINVAL.into()),
    }
    Ok(0)
}
