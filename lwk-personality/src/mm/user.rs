//! Application addresses as the personality meets them: allegations to
//! check against the VMAs before any byte moves, and the physical runs the
//! direct map reaches them by.

use super::backing::Prot;
use super::pages::PageMap;
use super::space::AddressSpace;
use crate::syscall::Errno;

/// What the personality is about to do with application memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read it for the application (`copy_from_user`).
    Read,
    /// Write it for the application (`copy_to_user`): the mapping must be
    /// writable.
    Write,
    /// Fill it on the application's behalf before it runs (ELF bytes into
    /// read-only text, the initial stack): only backing is required.
    Loader,
}

impl AddressSpace {
    /// Whether every byte of `[addr, addr + len)` is in a page (backed and
    /// allocated): for the trap handler, a VM fault at a populated address is
    /// a protection fault, elsewhere an access outside any backing.
    pub fn populated(&self, addr: u64, len: u64) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        let mut at = addr;
        while at < end {
            match self.pages.at(at) {
                Some((base, page)) => at = base + page.size(),
                None => return false,
            }
        }
        true
    }

    /// Checks that the application may let the personality do `access` on
    /// `[addr, addr + len)` and returns where those bytes are in physical
    /// memory, as runs for the direct map. The address is the application's
    /// allegation: every byte must be in a mapping with the needed rights.
    pub fn phys_runs(&self, addr: u64, len: u64, access: Access) -> Result<PhysRuns<'_>, Errno> {
        let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
        let mut at = addr;
        for v in self.vmas.overlapping(addr..end) {
            let allowed = v.backed
                && match access {
                    Access::Read => !v.prot.is_none(),
                    Access::Write => v.prot.contains(Prot::WRITE),
                    Access::Loader => true,
                };
            if v.start > at || !allowed {
                return Err(Errno::EFAULT);
            }
            at = v.end;
        }
        if at < end {
            return Err(Errno::EFAULT);
        }
        Ok(PhysRuns {
            pages: &self.pages,
            at: addr,
            end,
        })
    }
}

/// Physical runs of a checked user range: `(paddr, len)` pairs in address
/// order, each inside one page.
#[derive(Clone, Debug)]
pub struct PhysRuns<'a> {
    pages: &'a PageMap,
    at: u64,
    end: u64,
}

impl Iterator for PhysRuns<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.at >= self.end {
            return None;
        }
        // Checked ranges are backed throughout (an invariant), so a missing
        // page only ends the iteration early.
        let (base, page) = self.pages.at(self.at)?;
        let len = self.end.min(base + page.size()) - self.at;
        let paddr = page.frame.paddr + (self.at - base);
        self.at += len;
        Some((paddr, len))
    }
}
