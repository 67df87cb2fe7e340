//! Fault messages the kernel sends to a thread's fault endpoint.
//!
//! The label of the message is the fault type (`seL4_FaultType`, x86:
//! CapFault 1, UnknownSyscall 2, UserException 3, VMFault 5); the message
//! registers carry the details in the order of libsel4's `*_Msg` enums.

use crate::{UserContext, Word};

/// A decoded fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A capability lookup failed during a syscall (e.g. a `syscall`
    /// instruction with RDX in −8…−1 from a program with an empty CSpace).
    CapFault {
        ip: Word,
        addr: Word,
        in_recv_phase: bool,
        lookup_failure_type: Word,
    },
    /// A syscall number the kernel does not know. `regs` holds the
    /// registers at the fault (`rsp` is the kernel's stale copy: unreliable
    /// on 5.0, see SEL4-5.0-FACTS.md).
    UnknownSyscall { regs: UserContext, syscall: Word },
    /// A CPU exception: `number` is the vector (6 = #UD, 0 = #DE, 13 = #GP).
    UserException {
        ip: Word,
        sp: Word,
        flags: Word,
        number: Word,
        code: Word,
    },
    /// A page fault. `addr` is truncated to 32 bits by the 5.0 kernel.
    VmFault {
        ip: Word,
        addr: Word,
        prefetch: bool,
        fsr: Word,
    },
}

/// A label that is not a fault this kernel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownFault(pub Word);

impl Fault {
    /// Number of message words each fault type carries.
    pub fn length(label: Word) -> Option<usize> {
        match label {
            1 => Some(4),
            2 => Some(19),
            3 => Some(5),
            5 => Some(4),
            _ => None,
        }
    }

    /// Decodes a fault from its label and a reader of message register `i`.
    pub fn decode(label: Word, mr: impl Fn(usize) -> Word) -> Result<Fault, UnknownFault> {
        Ok(match label {
            1 => Fault::CapFault {
                ip: mr(0),
                addr: mr(1),
                in_recv_phase: mr(2) != 0,
                lookup_failure_type: mr(3),
            },
            2 => {
                // RAX RBX RCX RDX RSI RDI RBP R8..R15 FaultIP RSP FLAGS Syscall
                let regs = UserContext {
                    rax: mr(0),
                    rbx: mr(1),
                    rcx: mr(2),
                    rdx: mr(3),
                    rsi: mr(4),
                    rdi: mr(5),
                    rbp: mr(6),
                    r8: mr(7),
                    r9: mr(8),
                    r10: mr(9),
                    r11: mr(10),
                    r12: mr(11),
                    r13: mr(12),
                    r14: mr(13),
                    r15: mr(14),
                    rip: mr(15),
                    rsp: mr(16),
                    rflags: mr(17),
                    tls_base: 0,
                };
                Fault::UnknownSyscall {
                    regs,
                    syscall: mr(18),
                }
            }
            3 => Fault::UserException {
                ip: mr(0),
                sp: mr(1),
                flags: mr(2),
                number: mr(3),
                code: mr(4),
            },
            5 => Fault::VmFault {
                ip: mr(0),
                addr: mr(1),
                prefetch: mr(2) != 0,
                fsr: mr(3),
            },
            l => return Err(UnknownFault(l)),
        })
    }

    /// The instruction pointer at the fault.
    pub fn ip(&self) -> Word {
        match *self {
            Fault::CapFault { ip, .. }
            | Fault::UserException { ip, .. }
            | Fault::VmFault { ip, .. } => ip,
            Fault::UnknownSyscall { regs, .. } => regs.rip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_kind() {
        let mrs: [Word; 19] = core::array::from_fn(|i| 100 + i as Word);
        let f = Fault::decode(3, |i| mrs[i]).unwrap();
        assert_eq!(
            f,
            Fault::UserException {
                ip: 100,
                sp: 101,
                flags: 102,
                number: 103,
                code: 104
            }
        );
        let f = Fault::decode(2, |i| mrs[i]).unwrap();
        match f {
            Fault::UnknownSyscall { regs, syscall } => {
                assert_eq!(
                    (regs.rax, regs.rdx, regs.r15, regs.rip, regs.rsp, syscall),
                    (100, 103, 114, 115, 116, 118)
                );
            }
            _ => panic!(),
        }
        assert_eq!(f.ip(), 115);
        assert_eq!(
            Fault::decode(5, |i| mrs[i]).unwrap(),
            Fault::VmFault {
                ip: 100,
                addr: 101,
                prefetch: true,
                fsr: 103
            }
        );
        assert!(matches!(
            Fault::decode(1, |i| mrs[i]).unwrap(),
            Fault::CapFault { ip: 100, .. }
        ));
        assert_eq!(Fault::decode(4, |i| mrs[i]), Err(UnknownFault(4)));
        assert_eq!(Fault::length(2), Some(19));
    }
}
