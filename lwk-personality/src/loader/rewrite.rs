//! Load-time rewriting of `syscall` into `ud2`.
//!
//! # Why
//! The unmodified seL4 5.0 kernel takes every `syscall` instruction as one of
//! its own system calls: it reads the number from RDX (a Linux argument),
//! loses the user RSP, and executes a real seL4 call for RDX in −8…−1. A
//! Linux `syscall` therefore cannot be trapped transparently. An *exception*
//! can: `ud2` raises #UD, which seL4 delivers as a `UserException` fault with
//! every register intact. So before the program runs we decode its code and
//! replace each `syscall` (`0F 05`) with `ud2` (`0F 0B`), keeping the set of
//! rewritten addresses. At run time, #UD at an address in that set is a
//! system call (emulate, set RAX, resume at RIP + 2); #UD anywhere else is a
//! genuine illegal instruction (SIGILL).
//!
//! A `syscall` carrying prefixes (`66 0F 05`, `48 0F 05` — legal, and
//! meaningless for this instruction) becomes `90… 0F 0B`: the prefixes turn
//! into `nop`s so that every site is a 2-byte `ud2` and the handler can always
//! resume at RIP + 2. A jump to the original start runs the `nop`s first.
//!
//! # Limits of the linear sweep
//! We decode each code region from its first byte to its last, one instruction
//! after the other (a *linear sweep*, what `objdump -d` does), with a real x86
//! decoder (iced-x86) so instruction lengths are right. It is not a recursive
//! disassembly, and x86 code is not self-synchronising:
//! * **Data in text.** Constants, jump tables or padding placed inside code
//!   decode as garbage. If such data happens to decode as `0F 05`, we corrupt
//!   it (a wrong constant), and the instructions that follow it may be
//!   decoded out of phase. Compilers for x86_64 put jump tables and literals
//!   in `.rodata`; [`crate::loader::elf`] sweeps only the executable
//!   *sections* when section headers exist, which keeps `.rodata` and the ELF
//!   headers out even when they share the executable segment.
//! * **Misdecode.** After undecodable bytes the sweep resynchronises one byte
//!   later; it can land mid-instruction and, for a few instructions, see a
//!   `syscall` that is really the tail of another instruction (a false
//!   positive, corrupting an immediate) or miss one (a false negative).
//!   [`RewriteReport::undecodable_bytes`] says how often resynchronisation
//!   happened; it is zero for compiler-generated code.
//! * **Code made at run time** (JIT, self-modifying code) is never seen.
//!
//! # The residue
//! A `syscall` we did not rewrite still executes as a seL4 system call. For
//! RDX outside −8…−1 seL4 raises an `UnknownSyscall` fault (and for the other
//! values a `CapFault`, since an application's CSpace resolves nothing); the
//! trap handler ends the job with a diagnostic naming the address of the
//! unrewritten instruction, instead of emulating it with a lost RSP. So a
//! false negative is reported, never silently mis-emulated.
//!
//! `sysenter` and `int 0x80` (the 32-bit entry paths) are not rewritten: they
//! are not Linux x86_64 system calls. They are counted in the report so a job
//! that contains them can be flagged before it runs.

use super::elf::LoadPlan;
use alloc::vec::Vec;
use core::fmt;
use iced_x86::{Code, Decoder, DecoderOptions, Instruction};

/// The `syscall` opcode.
pub const SYSCALL: [u8; 2] = [0x0F, 0x05];
/// The `ud2` opcode that replaces it.
pub const UD2: [u8; 2] = [0x0F, 0x0B];
/// One-byte `nop`, replacing prefixes of a prefixed `syscall`.
const NOP: u8 = 0x90;

/// A system-call instruction the rewriter leaves alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsupportedKind {
    /// `sysenter` (`0F 34`), the 32-bit fast path.
    Sysenter,
    /// `int 0x80` (`CD 80`), the i386 system call gate.
    Int80,
}

/// Where an unsupported system-call instruction sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedSite {
    /// Address of the instruction.
    pub addr: u64,
    /// Which instruction.
    pub kind: UnsupportedKind,
}

/// What the rewriter did: the addresses of the `ud2` it wrote, sorted, plus
/// what it saw and could not handle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RewriteReport {
    sites: Vec<u64>,
    unsupported: Vec<UnsupportedSite>,
    undecodable: u64,
    scanned: u64,
}

impl RewriteReport {
    /// Number of `syscall` instructions rewritten.
    pub fn count(&self) -> usize {
        self.sites.len()
    }

    /// Sorted addresses of the `ud2` instructions that were `syscall`s.
    pub fn sites(&self) -> &[u64] {
        &self.sites
    }

    /// Whether a #UD at `rip` is a rewritten system call (binary search).
    pub fn is_rewritten(&self, rip: u64) -> bool {
        self.sites.binary_search(&rip).is_ok()
    }

    /// `sysenter` / `int 0x80` instructions found, sorted by address.
    pub fn unsupported(&self) -> &[UnsupportedSite] {
        &self.unsupported
    }

    /// Bytes the decoder could not decode and skipped one at a time. Nonzero
    /// means data in the code or a misdecode: the sweep may be out of phase.
    pub fn undecodable_bytes(&self) -> u64 {
        self.undecodable
    }

    /// Bytes swept.
    pub fn scanned_bytes(&self) -> u64 {
        self.scanned
    }

    /// Takes `other`'s findings (regions may come in any order).
    pub fn merge(&mut self, other: RewriteReport) {
        self.sites.extend(other.sites);
        self.sites.sort_unstable();
        self.sites.dedup();
        self.unsupported.extend(other.unsupported);
        self.unsupported.sort_unstable_by_key(|s| s.addr);
        self.undecodable += other.undecodable;
        self.scanned += other.scanned;
    }
}

/// The plan does not fit the buffer it is applied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionOutOfBounds {
    /// File offset of the region.
    pub offset: u64,
    /// Its length.
    pub len: u64,
    /// Length of the buffer given.
    pub buffer_len: u64,
}

impl fmt::Display for RegionOutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "code region {:#x}+{:#x} outside a buffer of {:#x} bytes (not the planned file?)",
            self.offset, self.len, self.buffer_len
        )
    }
}

impl core::error::Error for RegionOutOfBounds {}

/// Rewrites every code region of `plan` in `file`, the very bytes the plan was
/// made from (a private copy: the image is modified in place).
pub fn rewrite_image(file: &mut [u8], plan: &LoadPlan) -> Result<RewriteReport, RegionOutOfBounds> {
    let buffer_len = file.len() as u64;
    let mut report = RewriteReport::default();
    for region in &plan.code {
        let oob = RegionOutOfBounds {
            offset: region.offset,
            len: region.len,
            buffer_len,
        };
        let end = region.offset.checked_add(region.len).ok_or(oob)?;
        let code = file
            .get_mut(region.offset as usize..end as usize)
            .ok_or(oob)?;
        report.merge(rewrite_code(code, region.vaddr));
    }
    Ok(report)
}

/// Rewrites the `syscall`s in `code`, whose first byte lives at `vaddr`.
pub fn rewrite_code(code: &mut [u8], vaddr: u64) -> RewriteReport {
    let (found, report) = sweep(code, vaddr);
    for (pos, len) in found {
        let ud2_at = pos + len - UD2.len();
        code[pos..ud2_at].fill(NOP);
        code[ud2_at..pos + len].copy_from_slice(&UD2);
    }
    report
}

/// Finds what [`rewrite_code`] would rewrite, without modifying anything.
pub fn scan_code(code: &[u8], vaddr: u64) -> RewriteReport {
    sweep(code, vaddr).1
}

/// Linear sweep over `code`: returns the `(offset, length)` of each `syscall`
/// and the report with the addresses the `ud2`s will have.
fn sweep(code: &[u8], vaddr: u64) -> (Vec<(usize, usize)>, RewriteReport) {
    let mut found = Vec::new();
    let mut report = RewriteReport {
        scanned: code.len() as u64,
        ..RewriteReport::default()
    };
    let mut decoder = Decoder::with_ip(64, code, vaddr, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    while decoder.can_decode() {
        let pos = decoder.position();
        decoder.decode_out(&mut insn);
        if insn.is_invalid() {
            // Resynchronise on the next byte. `set_position` cannot fail for
            // `pos + 1 <= code.len()`, which holds since a byte was consumed.
            report.undecodable += 1;
            let next = pos + 1;
            if decoder.set_position(next).is_err() {
                break;
            }
            decoder.set_ip(vaddr.wrapping_add(next as u64));
            continue;
        }
        let len = insn.len();
        match insn.code() {
            // A decoded `syscall` always ends in its opcode; check anyway
            // rather than trust that while writing into code.
            Code::Syscall if code[pos + len - 2..pos + len] == SYSCALL => {
                found.push((pos, len));
                report
                    .sites
                    .push(vaddr.wrapping_add((pos + len - 2) as u64));
            }
            Code::Sysenter => report.unsupported.push(UnsupportedSite {
                addr: insn.ip(),
                kind: UnsupportedKind::Sysenter,
            }),
            Code::Int_imm8 if insn.immediate8() == 0x80 => {
                report.unsupported.push(UnsupportedSite {
                    addr: insn.ip(),
                    kind: UnsupportedKind::Int80,
                })
            }
            _ => {}
        }
    }
    // Decoding is in address order; a wrapping `vaddr` is the only way not to
    // be sorted, and the invariant is cheap to restore.
    report.sites.sort_unstable();
    (found, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const BASE: u64 = 0x40_1000;

    #[test]
    fn plain_syscall_becomes_ud2() {
        // mov eax, 60; xor edi, edi; syscall
        let mut code = vec![0xB8, 60, 0, 0, 0, 0x31, 0xFF, 0x0F, 0x05];
        let r = rewrite_code(&mut code, BASE);
        assert_eq!(r.sites(), &[BASE + 7]);
        assert_eq!(&code[7..], &UD2);
        assert!(r.is_rewritten(BASE + 7));
        assert!(!r.is_rewritten(BASE + 5));
        assert_eq!(r.undecodable_bytes(), 0);
    }

    #[test]
    fn bytes_0f05_inside_an_immediate_are_not_rewritten() {
        // mov eax, 0x050f050f; ret
        let mut code = vec![0xB8, 0x0F, 0x05, 0x0F, 0x05, 0xC3];
        let before = code.clone();
        let r = rewrite_code(&mut code, BASE);
        assert_eq!(r.count(), 0);
        assert_eq!(code, before);
    }

    #[test]
    fn prefixed_syscall_keeps_two_byte_ud2() {
        // rex.w syscall; o16 syscall
        let mut code = vec![0x48, 0x0F, 0x05, 0x66, 0x0F, 0x05];
        let r = rewrite_code(&mut code, BASE);
        assert_eq!(r.sites(), &[BASE + 1, BASE + 4]);
        assert_eq!(code, [NOP, 0x0F, 0x0B, NOP, 0x0F, 0x0B]);
    }

    #[test]
    fn existing_ud2_is_not_a_site() {
        let mut code = vec![0x0F, 0x0B, 0x0F, 0x05];
        let r = rewrite_code(&mut code, BASE);
        assert_eq!(r.sites(), &[BASE + 2]);
    }

    #[test]
    fn sysenter_and_int80_are_reported_not_rewritten() {
        // sysenter; int 0x80; int 3; syscall
        let mut code = vec![0x0F, 0x34, 0xCD, 0x80, 0xCC, 0x0F, 0x05];
        let r = rewrite_code(&mut code, BASE);
        assert_eq!(r.count(), 1);
        assert_eq!(
            r.unsupported(),
            &[
                UnsupportedSite {
                    addr: BASE,
                    kind: UnsupportedKind::Sysenter
                },
                UnsupportedSite {
                    addr: BASE + 2,
                    kind: UnsupportedKind::Int80
                },
            ]
        );
        assert_eq!(&code[..4], &[0x0F, 0x34, 0xCD, 0x80]);
    }

    #[test]
    fn undecodable_bytes_resync_and_are_counted() {
        // 0x06 (push es) is invalid in 64-bit mode; a truncated instruction at
        // the end too (mov eax, imm32 missing bytes).
        let mut code = vec![0x06, 0x06, 0x0F, 0x05, 0xB8, 0x01];
        let r = rewrite_code(&mut code, BASE);
        assert_eq!(r.sites(), &[BASE + 2]);
        assert_eq!(r.undecodable_bytes(), 4);
    }

    #[test]
    fn scan_does_not_modify_and_agrees_with_rewrite() {
        let code = vec![0x0F, 0x05, 0x90, 0x0F, 0x05];
        let scanned = scan_code(&code, BASE);
        let mut copy = code.clone();
        assert_eq!(rewrite_code(&mut copy, BASE), scanned);
        assert_eq!(scanned.count(), 2);
        // After rewriting nothing is left.
        assert_eq!(scan_code(&copy, BASE).count(), 0);
    }

    #[test]
    fn syscall_split_at_region_end_is_not_rewritten() {
        let mut code = vec![0x90, 0x0F];
        let r = rewrite_code(&mut code, BASE);
        assert_eq!(r.count(), 0);
        assert_eq!(r.undecodable_bytes(), 1);
    }

    #[test]
    fn merge_sorts_and_sums() {
        let mut a = scan_code(&[0x0F, 0x05], 0x2000);
        a.merge(scan_code(&[0x0F, 0x05, 0x06], 0x1000));
        assert_eq!(a.sites(), &[0x1000, 0x2000]);
        assert_eq!(a.scanned_bytes(), 5);
        assert_eq!(a.undecodable_bytes(), 1);
    }
}
