//! What a thread can reach: its CSpace (the CNode tree under its `cspace`
//! slot), CPtr lookup through guards as the kernel does it, its VSpace root
//! and its fault endpoint.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use crate::model::ObjectKind;
use crate::spec::{tcb_slot, CapRef, Spec};

/// Where a thread's fault endpoint is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultEpSource<'a> {
    /// The TCB's `fault_ep_slot` (how an MCS kernel holds it).
    TcbSlot,
    /// The TCB's `fault_ep:` CPtr, resolved in its own CSpace (how our
    /// non-MCS seL4 5.0 finds it, at the time of the fault).
    CSpace {
        /// The CNode holding the cap.
        cnode: &'a str,
        /// Its slot there.
        slot: u64,
    },
}

/// A thread's fault endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultEndpoint<'a> {
    /// The endpoint object.
    pub endpoint: &'a str,
    /// The badge the fault messages will carry.
    pub badge: u64,
    /// Where it was found.
    pub source: FaultEpSource<'a>,
}

fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

impl Spec {
    /// The CNodes of `tcb`'s CSpace: the root CNode and every CNode reachable
    /// through CNode caps below it, in discovery order.
    pub fn cspace_cnodes<'a>(&'a self, tcb: &str) -> Vec<&'a str> {
        let mut found: Vec<&'a str> = Vec::new();
        let mut seen = BTreeSet::new();
        let Some(root) = self.cap(tcb, tcb_slot::CSPACE) else {
            return found;
        };
        let mut todo = alloc::vec![root.target.as_str()];
        while let Some(cnode) = todo.pop() {
            let Some(object) = self.object(cnode) else {
                continue;
            };
            if !matches!(object.kind, ObjectKind::CNode { .. }) || !seen.insert(cnode) {
                continue;
            }
            found.push(&object.name);
            for cap in object.slots.values().rev() {
                todo.push(&cap.target);
            }
        }
        found
    }

    /// Every cap in `tcb`'s CSpace.
    pub fn held_caps<'a>(&'a self, tcb: &str) -> Vec<CapRef<'a>> {
        self.cspace_cnodes(tcb)
            .into_iter()
            .filter_map(|cnode| self.object(cnode))
            .flat_map(|o| {
                o.slots.iter().map(|(&slot, cap)| CapRef {
                    container: &o.name,
                    slot,
                    cap,
                })
            })
            .collect()
    }

    /// Looks `cptr` up in `tcb`'s CSpace with all 64 bits of depth, as the
    /// kernel does for a syscall or a fault-handler lookup: each level skips
    /// its guard (which must match) and indexes with the CNode's radix; the
    /// walk stops at the first cap that is not a CNode cap or when the bits
    /// run out. `None` if the lookup fails or ends in an empty slot.
    pub fn resolve_cptr<'a>(&'a self, tcb: &str, cptr: u64) -> Option<CapRef<'a>> {
        let mut cap = self.cap(tcb, tcb_slot::CSPACE)?;
        let mut bits: u32 = 64;
        loop {
            let ObjectKind::CNode { size_bits } = self.kind(&cap.target)? else {
                return None;
            };
            let guard_size = u32::from(cap.guard_size);
            let level_bits = guard_size + u32::from(*size_bits);
            if level_bits == 0 || level_bits > bits {
                return None;
            }
            if guard_size > 0 {
                let guard = (cptr >> (bits - guard_size)) & low_mask(guard_size);
                if guard != cap.guard & low_mask(guard_size) {
                    return None;
                }
            }
            bits -= level_bits;
            let slot = cptr.checked_shr(bits).unwrap_or(0) & low_mask((*size_bits).into());
            let container = &self.object(&cap.target)?.name;
            let found = self.cap(container, slot)?;
            let is_cnode = matches!(self.kind(&found.target), Some(ObjectKind::CNode { .. }));
            if bits == 0 || !is_cnode {
                return Some(CapRef {
                    container,
                    slot,
                    cap: found,
                });
            }
            cap = found;
        }
    }

    /// The PML4 in `tcb`'s `vspace` slot.
    pub fn vspace_of<'a>(&'a self, tcb: &str) -> Option<&'a str> {
        let cap = self.cap(tcb, tcb_slot::VSPACE)?;
        matches!(self.kind(&cap.target), Some(ObjectKind::Pml4)).then_some(cap.target.as_str())
    }

    /// The root CNode in `tcb`'s `cspace` slot.
    pub fn cspace_of<'a>(&'a self, tcb: &str) -> Option<&'a str> {
        Some(self.cap(tcb, tcb_slot::CSPACE)?.target.as_str())
    }

    /// `tcb`'s fault endpoint: the cap in its `fault_ep_slot` if there is
    /// one, otherwise the endpoint its `fault_ep:` CPtr resolves to in its own
    /// CSpace. `None` if it has neither, or the CPtr does not resolve to an
    /// endpoint.
    pub fn fault_endpoint<'a>(&'a self, tcb: &str) -> Option<FaultEndpoint<'a>> {
        if let Some(cap) = self.cap(tcb, tcb_slot::FAULT_EP) {
            return Some(FaultEndpoint {
                endpoint: &cap.target,
                badge: cap.badge,
                source: FaultEpSource::TcbSlot,
            });
        }
        let ObjectKind::Tcb(attrs) = self.kind(tcb)? else {
            return None;
        };
        let found = self.resolve_cptr(tcb, attrs.fault_ep?)?;
        matches!(self.kind(&found.cap.target), Some(ObjectKind::Endpoint)).then_some(
            FaultEndpoint {
                endpoint: &found.cap.target,
                badge: found.cap.badge,
                source: FaultEpSource::CSpace {
                    cnode: found.container,
                    slot: found.slot,
                },
            },
        )
    }
}
